package pipeline

import "testing"

// TestGlob checks Glob against Ruby's File.fnmatch?(pattern, path, File::FNM_PATHNAME |
// File::FNM_DOTMATCH | File::FNM_EXTGLOB), which GitLab uses for rules:changes and
// rules:exists (Gitlab::Ci::Build::Rules::Rule::Clause::Changes).
func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string
		path    string
		want    bool
		skip    string
	}{
		// Literal names.
		{name: "exact name", pattern: "Dockerfile", path: "Dockerfile", want: true},
		{name: "case matters", pattern: "Dockerfile", path: "dockerfile", want: false},
		{name: "dot is literal", pattern: "go.mod", path: "goxmod", want: false},
		{name: "regexp characters are literal", pattern: "a+(b).txt", path: "a+(b).txt", want: true},
		{name: "a prefix is not a match", pattern: "src", path: "src/main.go", want: false},
		{name: "backslash escapes a wildcard", pattern: `a\*b`, path: "a*b", want: true},
		{name: "escaped wildcard is not a wildcard", pattern: `a\*b`, path: "axxb", want: false},

		// * stays within one path element.
		{name: "star matches a name", pattern: "*.go", path: "main.go", want: true},
		{name: "star does not cross a slash", pattern: "*.go", path: "cmd/main.go", want: false},
		{name: "star in a directory", pattern: "cmd/*.go", path: "cmd/main.go", want: true},
		{name: "star directory", pattern: "*/main.go", path: "cmd/main.go", want: true},
		{name: "star directory is one level", pattern: "*/main.go", path: "cmd/slipway/main.go", want: false},
		{name: "star matches the empty string", pattern: "main*.go", path: "main.go", want: true},
		{name: "star alone", pattern: "*", path: "README.md", want: true},
		{name: "star alone is one element", pattern: "*", path: "docs/README.md", want: false},
		{name: "star under a directory is one level", pattern: "src/*", path: "src/a/b.go", want: false},
		{name: "two stars in one element", pattern: "*_test*", path: "glob_test.go", want: true},

		// ** followed by a slash matches any number of directories.
		{name: "double star, no directory", pattern: "**/*.go", path: "main.go", want: true},
		{name: "double star, one directory", pattern: "**/*.go", path: "cmd/main.go", want: true},
		{name: "double star, many directories", pattern: "**/*.go", path: "a/b/c/d.go", want: true},
		{name: "double star in the middle", pattern: "docs/**/*.md", path: "docs/a/b/c.md", want: true},
		{name: "double star in the middle, zero directories", pattern: "docs/**/*.md", path: "docs/index.md", want: true},
		{name: "double star keeps the prefix", pattern: "docs/**/*.md", path: "other/docs/a.md", want: false},
		{name: "double star keeps the suffix", pattern: "docs/**/*.md", path: "docs/a/b.txt", want: false},
		{name: "double star then a name", pattern: "**/Dockerfile", path: "images/base/Dockerfile", want: true},
		{name: "double star then a name, no match", pattern: "**/Dockerfile", path: "images/Dockerfile.dev", want: false},
		{name: "double star everything", pattern: "**/*", path: "a/b/c", want: true},
		{name: "trailing double star matches one element", pattern: "src/**", path: "src/main.go", want: true},
		{
			name: "trailing double star is a plain star", pattern: "src/**", path: "src/a/b.go", want: false,
		},
		{
			name: "double star glued to a name is a plain star", pattern: "**.rb", path: "lib/song.rb", want: false,
		},
		{name: "double star glued to a name, top level", pattern: "**.rb", path: "song.rb", want: true},

		// ? is one character, never a slash.
		{name: "question mark", pattern: "?.txt", path: "a.txt", want: true},
		{name: "question mark is exactly one", pattern: "?.txt", path: "ab.txt", want: false},
		{name: "question mark is not zero", pattern: "a?.txt", path: "a.txt", want: false},
		{name: "question mark is not a slash", pattern: "a?b", path: "a/b", want: false},

		// [...] classes.
		{name: "class", pattern: "[abc].go", path: "b.go", want: true},
		{name: "class, no match", pattern: "[abc].go", path: "d.go", want: false},
		{name: "range", pattern: "v[0-9].txt", path: "v7.txt", want: true},
		{name: "range, no match", pattern: "v[0-9].txt", path: "vx.txt", want: false},
		{name: "negated class with !", pattern: "[!abc].go", path: "d.go", want: true},
		{name: "negated class with !, no match", pattern: "[!abc].go", path: "a.go", want: false},
		{name: "negated class with ^", pattern: "[^abc].go", path: "d.go", want: true},
		{
			name: "negated class does not match a slash", pattern: "a[!x]b", path: "a/b", want: false,
		},

		// {a,b} alternatives (FNM_EXTGLOB).
		{name: "braces", pattern: "*.{yml,yaml}", path: "ci.yaml", want: true},
		{name: "braces, other alternative", pattern: "*.{yml,yaml}", path: "ci.yml", want: true},
		{name: "braces, no match", pattern: "*.{yml,yaml}", path: "ci.json", want: false},
		{name: "braces with directories", pattern: "{src,lib}/**/*.rb", path: "lib/a/b.rb", want: true},
		{name: "braces with directories, no match", pattern: "{src,lib}/**/*.rb", path: "test/a.rb", want: false},
		{name: "nested braces", pattern: "{a,{b,c}}.txt", path: "c.txt", want: true},
		{name: "comma outside braces is literal", pattern: "a,b", path: "a,b", want: true},
		{name: "empty alternative", pattern: "main{,_test}.go", path: "main.go", want: true},

		// Dotfiles match wildcards (FNM_DOTMATCH).
		{name: "star matches a dotfile", pattern: "*", path: ".gitlab-ci.yml", want: true},
		{name: "star prefix matches a dotfile", pattern: "*.yml", path: ".gitlab-ci.yml", want: true},
		{name: "star in a directory matches a dotfile", pattern: "config/*", path: "config/.env", want: true},
		{name: "double star enters dot directories", pattern: "**/*.yml", path: ".gitlab/ci/build.yml", want: true},
		{name: "question mark matches a leading dot", pattern: "?env", path: ".env", want: true},
		{name: "literal dotfile", pattern: ".gitlab-ci.yml", path: ".gitlab-ci.yml", want: true},
		{name: "dot directory by name", pattern: ".gitlab/**/*", path: ".gitlab/ci/a.yml", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			if got := Glob(tt.pattern, tt.path); got != tt.want {
				t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
			}
		})
	}
}
