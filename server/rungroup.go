package server

// runGroup runs components as execute/interrupt pairs, as prometheus does
// with oklog's run.Group: every execute runs in its own goroutine; when the
// first returns, every interrupt is called (once each) with its error, and
// run waits for all executes to return.
type runGroup struct{ actors []actor }

type actor struct {
	name      string
	execute   func() error
	interrupt func(error)
}

func (g *runGroup) add(name string, execute func() error, interrupt func(error)) {
	g.actors = append(g.actors, actor{name, execute, interrupt})
}

// run starts every actor and returns the error of the first to return,
// after all have. first, if not nil, is told which one that was before the
// interrupts run.
func (g *runGroup) run(first func(name string, err error)) error {
	if len(g.actors) == 0 {
		return nil
	}
	type result struct {
		name string
		err  error
	}
	done := make(chan result, len(g.actors))
	for _, a := range g.actors {
		go func() { done <- result{a.name, a.execute()} }()
	}
	r := <-done
	if first != nil {
		first(r.name, r.err)
	}
	for _, a := range g.actors {
		a.interrupt(r.err)
	}
	for range len(g.actors) - 1 {
		<-done
	}
	return r.err
}
