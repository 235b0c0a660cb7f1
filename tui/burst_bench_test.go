package tui

import (
	"context"
	"io"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// watched reports, from inside the program's loop, the moment the mode
// screen's Required warning comes up or goes away.
type watched struct {
	*Model
	shown chan time.Time
	was   bool
}

func (w *watched) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := w.Model.Update(msg)
	ms := w.screens[stepMode].(*modeScreen)
	if now := ms.confirm && w.cur == stepMode; now != w.was {
		w.was = now
		w.shown <- time.Now()
	}
	return w, cmd
}

// BenchmarkBurstQueuedKeyActedOn is `tmux send-keys Down Enter`: both keys
// in one write to a real program, through Bubble Tea's input parser. The
// Enter arrives inside a burst, is queued, and must be acted on (the
// Required warning drawn) within 20 ms of the burst's end, which is
// burstGap after its last key. Reported: ms from the write, and ms after
// the burst's end.
func BenchmarkBurstQueuedKeyActedOn(b *testing.B) {
	h := newHarness(b)
	d := h.deps()
	d.Now = time.Now // the burst rule needs the real clock here
	w := &watched{Model: New(context.Background(), d, plainStyles()), shown: make(chan time.Time, 4)}
	in, feed := io.Pipe()
	p := tea.NewProgram(w, tea.WithInput(in), tea.WithOutput(io.Discard), tea.WithoutSignals())
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	b.Cleanup(func() {
		p.Quit()
		feed.Close()
		<-done
	})
	// The mode screen is up once the installed state is read: a Down
	// typed by a person moves the cursor, so wait for it to be handled.
	waitFor := func() time.Time {
		select {
		case t := <-w.shown:
			return t
		case <-time.After(10 * time.Second):
			b.Fatal("the wizard never acted on the key")
		}
		return time.Time{}
	}
	write := func(s string) time.Time {
		t := time.Now()
		if _, err := feed.Write([]byte(s)); err != nil {
			b.Fatal(err)
		}
		return t
	}
	time.Sleep(100 * time.Millisecond)
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		sent := write("\x1b[B\r") // Down Enter in one write
		total += waitFor().Sub(sent)
		b.StopTimer()
		time.Sleep(2 * burstGap)
		write("n") // a person closes the warning
		waitFor()
		time.Sleep(2 * burstGap)
		write("\x1b[A") // and goes back up to Available
		time.Sleep(2 * burstGap)
		b.StartTimer()
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(time.Millisecond), "ms-from-write")
	b.ReportMetric(float64(per-burstGap)/float64(time.Millisecond), "ms-after-burst-end")
}
