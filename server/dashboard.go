package server

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow"
)

// dashboard serves the built web app: files as they are (hashed assets
// cached for a year, since their names change with their content), and
// index.html for every other path so that the app's own routes load.
func dashboard(files fs.FS) echo.HandlerFunc {
	fileServer := http.FileServer(http.FS(files))
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if strings.HasPrefix(p, "/api/") {
			return domainflow.Errorf(domainflow.ENOTFOUND, "No such route.")
		}
		name := strings.TrimPrefix(path.Clean(p), "/")
		if st, err := fs.Stat(files, name); name == "" || err != nil || st.IsDir() {
			c.Response().Header().Set("Cache-Control", "no-cache")
			index, err := fs.ReadFile(files, "index.html")
			if err != nil {
				return domainflow.Errorf(domainflow.ENOTFOUND, "The dashboard is not built into this binary (run make web).")
			}
			return c.HTMLBlob(http.StatusOK, index)
		}
		if strings.HasPrefix(name, "assets/") {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		fileServer.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
