//go:build race

package server

// raceEnabled: the race detector slows byte-by-byte work (JSON of large logs) about tenfold.
const raceEnabled = true
