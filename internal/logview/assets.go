package logview

import (
	"embed"
	"io/fs"
)

//go:embed assets/log.js assets/log.css
var assets embed.FS

// Assets are the log's browser files: log.js (live updates, follow, search, load earlier,
// timestamps, collapse and expand all; see its header for the data attributes it reads)
// and log.css (the markup's classes and terminal-to-html's colours, light and dark). Serve
// them as static files (under /-/assets/) and link them from the job page.
var Assets fs.FS = mustSub(assets, "assets")

func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		return f // unreachable: dir is a valid path
	}
	return sub
}
