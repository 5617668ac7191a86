// Running long tools (debootstrap, mksquashfs) with their progress logged.

package image

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// runLogged runs a long tool, logging the first line of each phase its output names
// (phase returns "" for lines that start none) and, every 15 s of silence,
// that it is still running with its last line. A failure returns the last
// lines of output.
func runLogged(cmd *exec.Cmd, step string, log *slog.Logger, phase func(string) string) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	start := time.Now()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	var last []string
	seen := map[string]bool{}
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			last = append(last, l)
			if len(last) > 10 {
				last = last[1:]
			}
			// Each phase once: debootstrap alternates Retrieving and
			// Validating for every package.
			if p := phase(l); p != "" && !seen[p] {
				seen[p] = true
				log.Info(step+": "+p, "step", step, "elapsed", time.Since(start).Round(time.Second))
			}
		case <-tick.C:
			l := ""
			if len(last) > 0 {
				l = last[len(last)-1]
			}
			log.Info(step+" still running", "step", step, "elapsed", time.Since(start).Round(time.Second), "last", l)
		}
	}
	if err := <-done; err != nil {
		return fmt.Errorf("%w; last output:\n%s", err, strings.Join(last, "\n"))
	}
	return nil
}

// debootstrapPhase is the phase a debootstrap "I: " line starts:
// "I: Retrieving libc6 2.36" → "Retrieving".
func debootstrapPhase(line string) string {
	rest, ok := strings.CutPrefix(line, "I: ")
	if !ok {
		return ""
	}
	word, _, _ := strings.Cut(rest, " ")
	return strings.TrimSuffix(word, "...")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; debootstrap.log ends:\n" + strings.Join(lines, "\n")
}
