package gitrepo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// configEntry is one variable of a git config file: its name as git config prints it (section
// and variable in lower case, the subsection as written), its value, and whether it has one
// (a bare "key" line has none).
type configEntry struct {
	key, value string
	hasValue   bool
}

// parseConfig parses a git config file as git does, for the syntax configuration files hold in
// practice. ok is false for a file git would refuse (a bad line) and for what it does not
// handle: include and includeIf sections, the old [section.sub] form, a value going on to the
// next line, and form feeds, vertical tabs and lone carriage returns, which git's notion of
// white space differs on.
func parseConfig(data []byte) (entries []configEntry, ok bool) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if bytes.ContainsAny(data, "\r\v\f") {
		return nil, false
	}
	p := configParser{data: data}
	section := ""
	for {
		c, eof := p.next()
		switch {
		case eof:
			return entries, true
		case c == '\n' || c == ' ' || c == '\t':
		case c == '#' || c == ';':
			p.skipLine()
		case c == '[':
			name, sub, ok := p.header()
			if !ok || name == "" || strings.Contains(name, ".") || name == "include" || name == "includeif" {
				return nil, false
			}
			section = name
			if sub != nil {
				section += "." + *sub
			}
		case isAlpha(c) && section != "":
			e, ok := p.variable(c)
			if !ok {
				return nil, false
			}
			e.key = section + "." + e.key
			entries = append(entries, e)
		default:
			return nil, false
		}
	}
}

// configParser reads a config file byte by byte.
type configParser struct {
	data []byte
	pos  int
}

func (p *configParser) next() (byte, bool) {
	if p.pos >= len(p.data) {
		return 0, true
	}
	c := p.data[p.pos]
	p.pos++
	return c, false
}

func (p *configParser) skipLine() {
	if i := bytes.IndexByte(p.data[p.pos:], '\n'); i >= 0 {
		p.pos += i + 1
	} else {
		p.pos = len(p.data)
	}
}

// header reads a section header after its "[": the name in lower case and the subsection, nil
// when there is none.
func (p *configParser) header() (name string, sub *string, ok bool) {
	var b strings.Builder
	for {
		c, eof := p.next()
		switch {
		case eof:
			return "", nil, false
		case c == ']':
			return b.String(), nil, true
		case c == ' ' || c == '\t':
			s, ok := p.subsection()
			return b.String(), &s, ok
		case isKeyChar(c) || c == '.':
			b.WriteByte(lower(c))
		default:
			return "", nil, false
		}
	}
}

// subsection reads ` "name"]` after a section name: a backslash takes the next byte as it is.
func (p *configParser) subsection() (string, bool) {
	c, eof := p.next()
	for !eof && (c == ' ' || c == '\t') {
		c, eof = p.next()
	}
	if eof || c != '"' {
		return "", false
	}
	var b strings.Builder
	for {
		c, eof := p.next()
		if eof || c == '\n' {
			return "", false
		}
		if c == '"' {
			break
		}
		if c == '\\' {
			if c, eof = p.next(); eof || c == '\n' {
				return "", false
			}
		}
		b.WriteByte(c)
	}
	c, eof = p.next()
	return b.String(), !eof && c == ']'
}

// variable reads a "name = value" line whose name starts with first.
func (p *configParser) variable(first byte) (configEntry, bool) {
	var b strings.Builder
	b.WriteByte(lower(first))
	c, eof := p.next()
	for !eof && isKeyChar(c) {
		b.WriteByte(lower(c))
		c, eof = p.next()
	}
	for !eof && (c == ' ' || c == '\t') {
		c, eof = p.next()
	}
	e := configEntry{key: b.String()}
	if eof || c == '\n' {
		return e, true
	}
	if c != '=' {
		return e, false
	}
	e.value, e.hasValue = p.value()
	return e, e.hasValue
}

// value reads a value after its "=" to the end of the line, as git does: white space around
// it dropped, "…" quoting, \t \n \b \\ \" escapes, and # or ; outside quotes starting a
// comment. ok is false where git fails and for a backslash that continues the line.
func (p *configParser) value() (string, bool) {
	var v []byte
	quote, comment := false, false
	trim := -1 // where trailing white space starts, -1 when there is none
	for {
		c, eof := p.next()
		if eof || c == '\n' {
			if quote {
				return "", false
			}
			if trim >= 0 {
				v = v[:trim]
			}
			return string(v), true
		}
		if comment {
			continue
		}
		if (c == ' ' || c == '\t') && !quote {
			if trim < 0 {
				trim = len(v)
			}
			if len(v) > 0 {
				v = append(v, c)
			}
			continue
		}
		if !quote && (c == '#' || c == ';') {
			comment = true
			continue
		}
		trim = -1
		switch c {
		case '\\':
			c, eof = p.next()
			switch {
			case eof || c == '\n':
				return "", false // a continuation line: rare, left to git
			case c == 't':
				c = '\t'
			case c == 'b':
				c = '\b'
			case c == 'n':
				c = '\n'
			case c == '\\' || c == '"':
			default:
				return "", false
			}
			v = append(v, c)
		case '"':
			quote = !quote
		default:
			v = append(v, c)
		}
	}
}

func isAlpha(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isKeyChar(c byte) bool { return isAlpha(c) || '0' <= c && c <= '9' || c == '-' }
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// configFiles lists the config files git reads for a repository whose git directory is gitDir,
// in git's order: system, global (XDG, then ~/.gitconfig), the repository's. ok is false when
// the environment asks for what this package does not read (see readDirect) or the system
// file's place is not known: only on Linux, for a git installed under /usr or /bin, is it
// /etc/gitconfig.
func configFiles(gitDir string) (files []string, ok bool) {
	if runtime.GOOS != "linux" {
		return nil, false
	}
	if v, set := os.LookupEnv("GIT_CONFIG_NOSYSTEM"); !set || !envTrue(v) {
		if set && !envFalse(v) {
			return nil, false
		}
		sys, set := os.LookupEnv("GIT_CONFIG_SYSTEM")
		if set && sys == "" {
			return nil, false
		}
		if !set {
			bin, err := exec.LookPath("git")
			if err != nil {
				return nil, false
			}
			if d := filepath.Dir(bin); d != "/usr/bin" && d != "/bin" {
				return nil, false
			}
			sys = "/etc/gitconfig"
		}
		files = append(files, sys)
	}
	if g, set := os.LookupEnv("GIT_CONFIG_GLOBAL"); set {
		if g == "" {
			return nil, false
		}
		files = append(files, g)
	} else if home := os.Getenv("HOME"); home != "" {
		xdg := os.Getenv("XDG_CONFIG_HOME")
		if xdg == "" {
			xdg = filepath.Join(home, ".config")
		}
		files = append(files, filepath.Join(xdg, "git", "config"), filepath.Join(home, ".gitconfig"))
	}
	return append(files, filepath.Join(gitDir, "config")), true
}

func envTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func envFalse(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "off":
		return true
	}
	return false
}

// readConfig reads the config files (missing ones are skipped) and returns what git config -z
// --get-regexp prints for the keys remoteURL reads, and the repository's own entries (the
// last file's). ok is false when a file cannot be read or parsed (see parseConfig).
func readConfig(files []string) (cfg []byte, local []configEntry, ok bool) {
	for i, name := range files {
		data, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, false
		}
		entries, ok := parseConfig(data)
		if !ok {
			return nil, nil, false
		}
		for _, e := range entries {
			// The keys of ^(remote\.origin\.url|url\..*\.insteadof)$.
			if e.key != "remote.origin.url" && !(strings.HasPrefix(e.key, "url.") && strings.HasSuffix(e.key, ".insteadof") && len(e.key) >= len("url..insteadof")) {
				continue
			}
			cfg = append(cfg, e.key...)
			if e.hasValue {
				cfg = append(cfg, '\n')
				cfg = append(cfg, e.value...)
			}
			cfg = append(cfg, 0)
		}
		if i == len(files)-1 {
			local = entries
		}
	}
	return cfg, local, true
}
