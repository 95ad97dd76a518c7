//go:build !unix

package docker

import "io/fs"

// fileOwner reports no owner: files have no numeric owners here.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
