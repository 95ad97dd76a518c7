package shell

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// lookupUser finds the user name names (a name or a numeric uid of the user database), or
// nil when it is this process's own user.
func lookupUser(name string) (*jobUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("job user %q: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("job user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("job user %q: gid %q: %w", name, u.Gid, err)
	}
	if uid == os.Geteuid() {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("job user %q: running jobs as another user needs root (this process runs as uid %d)", name, os.Geteuid())
	}
	return &jobUser{name: u.Username, uid: uid, gid: gid}, nil
}

// prepare readies a job to run as u: the script directory tmp searchable, a HOME and a
// TMPDIR of its own in it (0700, u's), the file variables in fileDir (when set) and the build
// directory u's, the build directory closed to other users (0700). It returns the HOME and
// the TMPDIR.
func (u *jobUser) prepare(buildDir, tmp, fileDir string) (home, tmpDir string, err error) {
	if err := u.reachable(buildDir); err != nil {
		return "", "", err
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		return "", "", fmt.Errorf("script dir: %w", err)
	}
	home, tmpDir = filepath.Join(tmp, "home"), filepath.Join(tmp, "tmp")
	for _, d := range []string{home, tmpDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return "", "", fmt.Errorf("make %s: %w", filepath.Base(d), err)
		}
		if err := os.Chown(d, u.uid, u.gid); err != nil {
			return "", "", fmt.Errorf("make %s: %w", filepath.Base(d), err)
		}
	}
	if fileDir != "" {
		if err := u.giveFiles(fileDir); err != nil {
			return "", "", fmt.Errorf("file variables: %w", err)
		}
	}
	if err := giveTree(buildDir, u.uid, u.gid); err != nil {
		return "", "", fmt.Errorf("give build dir to %s: %w", u.name, err)
	}
	// Private to the job (git's modes are 0755 and 0644): no job of another uid reads it.
	if err := os.Chmod(buildDir, 0o700); err != nil {
		return "", "", fmt.Errorf("give build dir to %s: %w", u.name, err)
	}
	return home, tmpDir, nil
}

// giveFiles gives dir, which this process made, and the regular files in it (run writes file
// variables there) to u, readable by u alone.
func (u *jobUser) giveFiles(dir string) error {
	if err := os.Lchown(dir, u.uid, u.gid); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	list, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range list {
		if !d.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, d.Name())
		if err := os.Lchown(p, u.uid, u.gid); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// reachable checks that u can search every directory above path, as the job's shell must to
// start in path. Directories that do not exist yet are skipped: this process makes them
// searchable (0755).
func (u *jobUser) reachable(path string) error {
	d := filepath.Dir(path)
	for {
		real, err := filepath.EvalSymlinks(d) // the kernel searches the real directories
		if err == nil {
			d = real
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || d == filepath.Dir(d) {
			return fmt.Errorf("build dir: %w", err)
		}
		d = filepath.Dir(d)
	}
	for ; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("build dir: %w", err)
		}
		if !u.searches(fi) {
			return fmt.Errorf("build dir %s: the job user %s cannot reach it: %s is %v, owned by %s (put the builds dir where %[2]s can search every directory above it)",
				path, u.name, d, fi.Mode().Perm(), owner(fi))
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// searches reports whether u may search the directory fi: the owner's, the group's or the
// others' bit, as the kernel picks them (u has no supplementary groups).
func (u *jobUser) searches(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell: the job's start will
	}
	m := fi.Mode().Perm()
	switch {
	case int(st.Uid) == u.uid:
		return m&0o100 != 0
	case int(st.Gid) == u.gid:
		return m&0o010 != 0
	}
	return m&0o001 != 0
}

func owner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("uid %d gid %d", st.Uid, st.Gid)
	}
	return "?"
}

// giveTree gives the tree at dir to uid:gid. It never leaves dir nor follows a symbolic link
// out of it (os.Root), whatever a job that still runs does meanwhile, and leaves alone the
// regular files with more than one link: they may be shared with a store outside the tree
// (the runner's cache hard-links the files it keeps), which must stay the runner's. Files
// that vanish meanwhile are no error.
func giveTree(dir string, uid, gid int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	keep(fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			keep(err)
			return nil
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				keep(err)
				return nil
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				return nil
			}
		}
		keep(root.Lchown(name, uid, gid))
		return nil
	}))
	return errors.Join(errs...)
}
