package project

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The web console: plain HTML, CSS and ES modules embedded in the binary,
// so an installation serves it without a CDN, a separate web server or a
// build step. It talks to the public API only, with the API key the person
// signs in with (kept in the browser's sessionStorage, sent as the
// Authorization header), exactly as a script would.

//go:embed console
var consoleFiles embed.FS

// consoleCSP allows nothing from elsewhere: the console's own files and its
// own API only, no inline script or style, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// consoleRoutes serves the console under /console/ and sends / there.
func (s *Service) consoleRoutes(r chi.Router) {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	files := http.FileServerFS(sub)
	toConsole := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	}
	r.Get("/", toConsole)
	r.Get("/console", toConsole)
	r.Get("/console/*", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/console")
		name = strings.TrimPrefix(name, "/")
		if name == "" {
			name = "index.html"
		}
		if st, err := fs.Stat(sub, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary and carry no version in their
		// names: the browser asks again every time (they are small).
		h.Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if name == "index.html" {
			// The file server redirects /index.html to ./ and serves the
			// index for the directory.
			r2.URL.Path = "/"
		}
		files.ServeHTTP(w, r2)
	})
}
