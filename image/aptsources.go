// The host's apt sources, from which the rootfs build picks its mirror.

package image

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HostMirror finds the Debian mirror the host's apt uses for suite, in
// aptDir/sources.list (one-line format) and aptDir/sources.list.d/*.list and
// *.sources (deb822). The first "deb" source whose suites include suite
// wins; without one, the first Debian-looking "deb" source (URI ending in
// /debian).
func HostMirror(aptDir, suite string) (string, error) {
	var files []string
	if _, err := os.Stat(filepath.Join(aptDir, "sources.list")); err == nil {
		files = append(files, filepath.Join(aptDir, "sources.list"))
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", pat))
		slices.Sort(m)
		files = append(files, m...)
	}
	var all []AptSource
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if strings.HasSuffix(f, ".sources") {
			all = append(all, ParseDeb822Sources(string(b))...)
		} else {
			all = append(all, ParseSourcesList(string(b))...)
		}
	}
	for _, s := range all {
		if slices.Contains(s.Suites, suite) {
			return s.URI, nil
		}
	}
	for _, s := range all {
		if strings.HasSuffix(strings.TrimSuffix(s.URI, "/"), "/debian") {
			return s.URI, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror for %s in %s/sources.list or sources.list.d: set MIRROR=http://<mirror>/debian", suite, aptDir)
}

// AptSource is one "deb" source of apt's configuration.
type AptSource struct {
	URI    string
	Suites []string
}

// ParseSourcesList reads the one-line format: "deb [options] uri suite
// component...". deb-src lines and comments are skipped.
func ParseSourcesList(s string) []AptSource {
	var out []AptSource
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, AptSource{URI: f[0], Suites: []string{f[1]}})
	}
	return out
}

// ParseDeb822Sources reads the deb822 format: stanzas separated by blank
// lines with Types:, URIs:, Suites: fields. Disabled stanzas (Enabled: no)
// and those without the "deb" type are skipped.
func ParseDeb822Sources(s string) []AptSource {
	var out []AptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && key != "" {
				fields[key] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if !slices.Contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		suites := strings.Fields(fields["suites"])
		for _, u := range strings.Fields(fields["uris"]) {
			out = append(out, AptSource{URI: u, Suites: suites})
		}
	}
	return out
}
