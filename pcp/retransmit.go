package pcp

import "time"

// Retransmit is the request retransmission policy of RFC 6887 §8.1.1. The
// zero value of a field means the RFC default.
type Retransmit struct {
	// IRT is the initial retransmission time (default 3 s).
	IRT time.Duration
	// MRT caps the retransmission time before randomisation (default
	// 1024 s; negative means no cap).
	MRT time.Duration
	// MRC is the maximum number of transmissions (default 0: unbounded,
	// the context ends the call).
	MRC int
	// MRD is the maximum total duration (default 0: unbounded, the context
	// ends the call).
	MRD time.Duration
	// FirstTimeout, if set, replaces the first wait only, for interactive
	// use: e.g. 250 ms, so that a lost first packet costs a quarter second
	// instead of 3 s. Later waits follow the RFC schedule from IRT.
	FirstTimeout time.Duration
}

// RFC 6887 §8.1.1 defaults.
const (
	DefaultIRT = 3 * time.Second
	DefaultMRT = 1024 * time.Second
)

func (p Retransmit) withDefaults() Retransmit {
	if p.IRT <= 0 {
		p.IRT = DefaultIRT
	}
	if p.MRT == 0 {
		p.MRT = DefaultMRT
	}
	return p
}

// schedule produces the successive retransmission timeouts:
//
//	RT = IRT + RAND*IRT                 (first)
//	RT = 2*RTprev + RAND*RTprev         (later)
//	if RT > MRT: RT = MRT + RAND*MRT
//
// with RAND uniform in [-0.1, +0.1] drawn for every RT (§8.1.1).
type schedule struct {
	p    Retransmit
	rand func() float64 // uniform in [0, 1)
	n    int            // timeouts handed out so far
	prev time.Duration
}

func newSchedule(p Retransmit, rand func() float64) *schedule {
	return &schedule{p: p.withDefaults(), rand: rand}
}

// jitter returns RAND in [-0.1, 0.1].
func (s *schedule) jitter() float64 { return (s.rand()*2 - 1) / 10 }

// next returns the time to wait for a response to transmission number
// s.n+1, and false when MRC transmissions have been made.
func (s *schedule) next() (time.Duration, bool) {
	if s.p.MRC > 0 && s.n >= s.p.MRC {
		return 0, false
	}
	var rt time.Duration
	switch {
	case s.n == 0 && s.p.FirstTimeout > 0:
		rt = s.p.FirstTimeout + time.Duration(s.jitter()*float64(s.p.FirstTimeout))
		// The RFC schedule resumes at IRT: the short first wait does not
		// make later ones shorter.
		s.n++
		s.prev = 0
		return rt, true
	case s.prev == 0:
		rt = s.p.IRT + time.Duration(s.jitter()*float64(s.p.IRT))
	default:
		rt = 2*s.prev + time.Duration(s.jitter()*float64(s.prev))
	}
	if s.p.MRT > 0 && rt > s.p.MRT {
		rt = s.p.MRT + time.Duration(s.jitter()*float64(s.p.MRT))
	}
	s.n++
	s.prev = rt
	return rt, true
}
