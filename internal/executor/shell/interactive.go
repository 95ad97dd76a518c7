package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// Shell runs the shell interactively (-i) in the build directory with the job's variables,
// reading in and writing out, until it exits or ctx is done. It returns an *executor.ExitError
// when the shell exits non-zero. When in is a terminal the shell stays in Slipway's process
// group, so that it can take the terminal; then a cancel kills only the shell.
func (e *env) Shell(ctx context.Context, in io.Reader, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, e.shell, "-i")
	cmd.Dir, cmd.Env = e.dir, e.environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, out
	cmd.SysProcAttr = e.sysProcAttr()
	group := !isTerminal(in)
	if group {
		e.ownGroup(cmd)
	} else {
		cmd.WaitDelay = e.grace
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", e.shell, err)
	}
	err := cmd.Wait()
	if group {
		_ = killGroup(cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return exitError(err)
}

// isTerminal reports whether r is a character device, as a terminal is.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
