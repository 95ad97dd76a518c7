package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Environment variables that hold secrets of `slipway server` and `slipway runner`.
const (
	envAdminToken        = "SLIPWAY_ADMIN_TOKEN"
	envAdminPassword     = "SLIPWAY_ADMIN_PASSWORD"
	envRegistrationToken = "SLIPWAY_REGISTRATION_TOKEN"
	envSMTPPassword      = "SLIPWAY_SMTP_PASSWORD"
	envDB                = "SLIPWAY_DB"
	// envSecretsFD names the pipe HideEnvSecrets hands the secrets over through.
	envSecretsFD = "SLIPWAY_SECRETS_FD"
	// maxSecrets bounds what is handed over: what a pipe holds without a reader.
	maxSecrets = 32 << 10
)

func secretNames() []string {
	return []string{envAdminToken, envAdminPassword, envRegistrationToken, envSMTPPassword, envDB}
}

// takeSecrets returns the secrets set in this process's environment and removes them from
// it, so that no process started later (git, shell jobs, hooks) inherits them.
func takeSecrets() map[string]string {
	m := map[string]string{}
	for _, k := range secretNames() {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
			os.Unsetenv(k)
		}
	}
	return m
}

// HideEnvSecrets keeps the secrets `slipway server` and `slipway runner` take from the
// environment out of this process's initial environment, which /proc/PID/environ shows to
// every process of the same user for as long as the process lives (os.Unsetenv does not
// change it). main calls it first with os.Args.
//
// When args run one of those commands and a secret is set, it executes this program again in
// this process (same PID, execve) with the same arguments and an environment without the
// secrets, handing them over through a pipe whose descriptor SLIPWAY_SECRETS_FD names; in
// the new program the call reads them back into the environment (not the initial one), where
// the commands take them. It returns only when there is nothing to hide, after reading the
// secrets back, or on an error: then the program goes on with the secrets where they were,
// and the commands still take them out of the environment their children get.
func HideEnvSecrets(args []string) error {
	if fd, ok := os.LookupEnv(envSecretsFD); ok {
		os.Unsetenv(envSecretsFD)
		return receiveSecrets(fd)
	}
	if len(args) < 2 || args[1] != "server" && args[1] != "runner" {
		return nil
	}
	var secrets bytes.Buffer
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); slices.Contains(secretNames(), k) {
			secrets.WriteString(kv)
			secrets.WriteByte(0)
			continue
		}
		env = append(env, kv)
	}
	if secrets.Len() == 0 {
		return nil
	}
	if secrets.Len() > maxSecrets {
		return fmt.Errorf("hide secrets from /proc: %d bytes of them, more than %d", secrets.Len(), maxSecrets)
	}
	exe := "/proc/self/exe" // this program even when its file was replaced meanwhile
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("hide secrets from /proc: %w", err)
		}
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil { // not close-on-exec: the new program reads p[0]
		return fmt.Errorf("hide secrets from /proc: %w", err)
	}
	_, err := syscall.Write(p[1], secrets.Bytes()) // fits in the pipe's buffer: no reader needed
	syscall.Close(p[1])
	if err == nil {
		err = syscall.Exec(exe, args, append(env, envSecretsFD+"="+strconv.Itoa(p[0])))
	}
	syscall.Close(p[0])
	return fmt.Errorf("hide secrets from /proc: %w", err)
}

// receiveSecrets reads the secrets HideEnvSecrets handed over through descriptor fd into the
// environment.
func receiveSecrets(fd string) error {
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return fmt.Errorf("%s=%q: not a descriptor slipway handed over", envSecretsFD, fd)
	}
	f := os.NewFile(uintptr(n), "secrets")
	if f == nil {
		return fmt.Errorf("%s=%q: not a descriptor slipway handed over", envSecretsFD, fd)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecrets+1))
	if err != nil {
		return fmt.Errorf("read secrets: %w", err)
	}
	if len(data) > maxSecrets {
		return errors.New("read secrets: too many")
	}
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(data), "\x00"), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok && slices.Contains(secretNames(), k) {
			os.Setenv(k, v)
		}
	}
	return nil
}
