// Package web holds the dashboard: a React app (src/) built by Vite into
// dist/, which is committed and embedded in the binary so that the service
// needs no Node.js to run. `make web` rebuilds it; CI checks it is current.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Dist returns the built app, rooted at its index.html.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time: it is there
	}
	return sub
}
