package gitrepo

import (
	"net/url"
	"strings"
)

// ProjectPath derives a GitLab project path ("group/sub/name") and server host name from a git
// remote URL, in any form git accepts:
//
//	git@gitlab.com:group/name.git           scp-like ssh
//	ssh://git@gitlab.com:2222/group/name.git
//	https://user:token@gitlab.com:8443/group/sub/name.git
//	git://, http://, git+ssh://…
//	file:///srv/git/group/name.git, /srv/git/name.git, ../name, C:\repos\name
//
// For network URLs the path is the whole URL path without ".git" and the host is lowercased,
// without user or port. File URLs and local paths have no host, and their project path is
// their last two directory names (a bare repository's "name.git" counts as "name"). An empty
// or unusable URL gives "", "".
func ProjectPath(remote string) (projectPath, host string) {
	s := strings.TrimSpace(remote)
	if s == "" {
		return "", ""
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok && isScheme(scheme) {
		if strings.EqualFold(scheme, "file") {
			// file://host/path: the host part is almost always empty.
			_, p, _ := strings.Cut(rest, "/")
			return localPath(unescape(p)), ""
		}
		authority, p, _ := strings.Cut(rest, "/")
		if i := strings.IndexAny(p, "?#"); i >= 0 {
			p = p[:i]
		}
		return remotePath(unescape(p)), hostName(authority)
	}
	if h, p, ok := scpLike(s); ok {
		return remotePath(p), hostName(h)
	}
	return localPath(s), ""
}

// isScheme reports whether s is a URL scheme: a letter, then letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// scpLike splits "[user@]host:path" as git does: the first ':' must come before any '/', and a
// host in brackets may contain colons. A one-letter "host" is a Windows drive.
func scpLike(s string) (host, path string, ok bool) {
	start := 0
	if i := strings.Index(s, "@["); i >= 0 || strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > i {
			start = end
		}
	}
	colon := strings.IndexByte(s[start:], ':')
	if colon < 0 {
		return "", "", false
	}
	colon += start
	if slash := strings.IndexByte(s, '/'); slash >= 0 && slash < colon {
		return "", "", false
	}
	if colon == 0 || (colon == 1 && isLetter(s[0])) {
		return "", "", false
	}
	return s[:colon], s[colon+1:], true
}

// hostName is the lowercased host of "user:pass@host:port", without brackets around IPv6.
func hostName(authority string) string {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if strings.HasPrefix(authority, "[") {
		if end := strings.IndexByte(authority, ']'); end > 0 {
			return strings.ToLower(authority[1:end])
		}
		return ""
	}
	if i := strings.IndexByte(authority, ':'); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "/\\") {
		return ""
	}
	return strings.ToLower(authority)
}

// remotePath turns a URL path into a project path: no empty, "." or ".." elements, no ".git".
func remotePath(p string) string {
	return strings.Join(trimGit(cleanElems(p)), "/")
}

// trimGit removes ".git" from the last element, and the element if nothing usable is left.
func trimGit(elems []string) []string {
	if n := len(elems); n > 0 {
		switch e := strings.TrimSuffix(elems[n-1], ".git"); e {
		case "", ".", "..":
			elems = elems[:n-1]
		default:
			elems[n-1] = e
		}
	}
	return elems
}

// localPath turns a file path into a project path from its last two elements.
func localPath(p string) string {
	elems := cleanElems(strings.ReplaceAll(p, `\`, "/"))
	// A path to a work tree's .git directory names the work tree.
	if n := len(elems); n > 0 && elems[n-1] == ".git" {
		elems = elems[:n-1]
	}
	elems = trimGit(elems)
	// Drop a Windows drive ("C:").
	if len(elems) > 0 && len(elems[0]) == 2 && elems[0][1] == ':' && isLetter(elems[0][0]) {
		elems = elems[1:]
	}
	if len(elems) > 2 {
		elems = elems[len(elems)-2:]
	}
	return strings.Join(elems, "/")
}

func cleanElems(p string) []string {
	var elems []string
	for _, e := range strings.Split(p, "/") {
		if e != "" && e != "." && e != ".." {
			elems = append(elems, e)
		}
	}
	return elems
}

func unescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
