package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger gives go-plugin an hclog.Logger whose entries end up in l.
// hclog writes one JSON object per entry; slogWriter turns each back into an
// slog record. go-plugin's Info entries (process started, exited) and the
// worker's own [INFO] lines become Debug: the pool reports what matters at
// Info itself, and a pool of workers would otherwise be noisy.
func newHCLogger(l *slog.Logger) hclog.Logger {
	level := hclog.Warn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "openmm",
		Level:      level,
		Output:     slogWriter{l},
		JSONFormat: true,
	})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			w.l.Debug(string(line))
			continue
		}
		msg, _ := m["@message"].(string)
		lvl, _ := m["@level"].(string)
		delete(m, "@message")
		delete(m, "@level")
		delete(m, "@timestamp")
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		args := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			args = append(args, strings.TrimPrefix(k, "@"), m[k])
		}
		w.l.Log(context.Background(), slogLevel(lvl), msg, args...)
	}
	return len(b), nil
}

func slogLevel(hc string) slog.Level {
	switch hc {
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default: // trace, debug, info
		return slog.LevelDebug
	}
}

// tailBuffer keeps the last bytes written to it: a worker's stderr, quoted
// in errors about that worker (Python tracebacks say why it failed).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// suffix is "" or the buffered output, formatted to end an error message.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return "\nworker stderr (end):\n" + s
}
