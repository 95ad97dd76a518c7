package gitrepo

import (
	"strings"
	"testing"
)

var projectPathTests = []struct {
	name, url, path, host string
}{
	{name: "scp-like", url: "git@gitlab.com:gcl/test-project.git", path: "gcl/test-project", host: "gitlab.com"},
	{name: "scp-like subgroups", url: "git@gitlab.com:group/sub/name.git", path: "group/sub/name", host: "gitlab.com"},
	{name: "scp-like without user or .git", url: "gitlab.example.com:group/name", path: "group/name", host: "gitlab.example.com"},
	{name: "scp-like leading slash", url: "git@host.example:/srv/group/name.git", path: "srv/group/name", host: "host.example"},
	{name: "scp-like ipv6", url: "git@[::1]:group/name.git", path: "group/name", host: "::1"},
	{name: "ssh url", url: "ssh://git@gitlab.com/group/name.git", path: "group/name", host: "gitlab.com"},
	{name: "ssh url with port", url: "ssh://git@gitlab.example.com:2222/group/sub/name.git", path: "group/sub/name", host: "gitlab.example.com"},
	{name: "git+ssh", url: "git+ssh://git@GitLab.Example.com/Group/Name.git", path: "Group/Name", host: "gitlab.example.com"},
	{name: "https", url: "https://gitlab.com/group/name.git", path: "group/name", host: "gitlab.com"},
	{name: "https with credentials and port", url: "https://user:tok@en@gitlab.example.com:8443/group/name.git", path: "group/name", host: "gitlab.example.com"},
	{name: "https without .git", url: "https://gitlab.com/group/name", path: "group/name", host: "gitlab.com"},
	{name: "https trailing slash", url: "https://gitlab.com/group/name.git/", path: "group/name", host: "gitlab.com"},
	{name: "http localhost", url: "http://localhost:8080/root/project", path: "root/project", host: "localhost"},
	{name: "https escaped", url: "https://gitlab.com/my%2Dgroup/name.git?x=1#frag", path: "my-group/name", host: "gitlab.com"},
	{name: "https ipv6", url: "https://[2001:db8::1]:8443/g/n.git", path: "g/n", host: "2001:db8::1"},
	{name: "git protocol", url: "git://example.org/group/name.git", path: "group/name", host: "example.org"},
	{name: "surrounding space", url: "  https://gitlab.com/a/b.git\n", path: "a/b", host: "gitlab.com"},
	{name: "file url", url: "file:///srv/git/group/name.git", path: "group/name", host: ""},
	{name: "file url one element", url: "file:///name.git", path: "name", host: ""},
	{name: "absolute path", url: "/srv/git/name.git", path: "git/name", host: ""},
	{name: "work tree .git", url: "/home/me/src/app/.git", path: "src/app", host: ""},
	{name: "relative path", url: "../relative/repo", path: "relative/repo", host: ""},
	{name: "dot path", url: ".", path: "", host: ""},
	{name: "windows path", url: `C:\repos\group\name.git`, path: "group/name", host: ""},
	{name: "windows drive only", url: `C:\name`, path: "name", host: ""},
	{name: "empty", url: "", path: "", host: ""},
	{name: "only scheme", url: "https://", path: "", host: ""},
	{name: "bad scheme is scp-like, as for git", url: "1http://x/y/z", path: "x/y/z", host: "1http"},
}

func TestProjectPath(t *testing.T) {
	t.Parallel()
	for _, tt := range projectPathTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, host := ProjectPath(tt.url)
			if path != tt.path || host != tt.host {
				t.Errorf("ProjectPath(%q) = %q, %q; want %q, %q", tt.url, path, host, tt.path, tt.host)
			}
		})
	}
}

func FuzzProjectPath(f *testing.F) {
	for _, tt := range projectPathTests {
		f.Add(tt.url)
	}
	f.Add("git@[::1:group/name")
	f.Add("ssh://@:/")
	f.Add("[]:")
	f.Add("a@[b]c:d")
	f.Add("%zz://x")
	f.Fuzz(func(t *testing.T, remote string) {
		path, host := ProjectPath(remote)
		if strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
			t.Errorf("ProjectPath(%q) path %q has empty elements", remote, path)
		}
		for _, e := range strings.Split(path, "/") {
			if e == "." || e == ".." {
				t.Errorf("ProjectPath(%q) path %q has a %q element", remote, path, e)
			}
		}
		if strings.ContainsAny(host, "/@") || host != strings.ToLower(host) {
			t.Errorf("ProjectPath(%q) host %q is not a lowercase host name", remote, host)
		}
	})
}
