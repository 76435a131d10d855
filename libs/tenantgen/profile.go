package tenantgen

import (
	"math"
	"math/rand/v2"
)

// Profile is the size model of generated mail: what a message weighs on
// average and the most it may weigh. Sizes come from a few log-normal
// draws per message (the length of the text, the size of each attachment
// and inline image) plus a rare tail of messages with one big attachment:
// two in a thousand of 1 to 8 MB, and one in a hundred thousand between
// 10 MB and Max. The attachment median is derived from Mean, so a
// profile hits its mean whatever its maximum.
type Profile struct {
	// Name is for reports.
	Name string
	// Mean is the average message size aimed at, in bytes.
	Mean int64
	// Max is the largest message generated, in bytes: the destination's
	// item limit. The multi-megabyte tail only exists when Max allows it;
	// a Max under 256 KiB is raised to that.
	Max int64
}

var (
	// Realistic is what a real tenant holds: about 75 KB per message on
	// average with a long tail up to Graph's 150 MB item limit.
	Realistic = Profile{Name: "realistic", Mean: 75_000, Max: 150 << 20}
	// Light is the small mail of demos and of tests and benchmarks that
	// move whole tenants: about 20 KB on average, nothing over 1 MB.
	Light = Profile{Name: "light", Mean: 20_000, Max: 1 << 20}
)

// WithMax is the profile with another maximum (the destination's limit).
func (p Profile) WithMax(max int64) Profile {
	p.Max = max
	return p
}

const (
	textMedian = 2200 // filler bytes of one text body
	textSigma  = 0.9
	textMin    = 300
	attSigma   = 1.1
	attMin     = 400
	minMax     = 256 << 10

	// One message in largeEvery is 1 to 8 MB, one in hugeEvery 10 MB to
	// Max. They are spread evenly rather than drawn independently: each
	// block of largeEvery indexes of a mailbox has exactly one large
	// message, each block of hugeEvery (100 mailboxes x 1000 indexes) one
	// huge one, so a sample of a few thousand messages has its share of
	// the tail and its mean does not swing with how many it happened to
	// get.
	largeEvery = 500
	largeLo    = 1 << 20
	largeHi    = 8 << 20
	hugeEvery  = 100_000
	hugeLo     = 10 << 20

	// fixedBytes is what an average message weighs without its text
	// bodies and attachments (headers, part headers, boundaries, HTML
	// frame, S/MIME signature); measured by TestProfileMeans.
	fixedBytes = 1950
)

// b64 is the growth of data in base64 with CRLF every 76 characters.
const b64 = 78.0 / 57.0

type tail uint8

const (
	tailNone tail = iota
	tailLarge
	tailHuge
)

// sizer is a Profile turned into the parameters of its draws.
type sizer struct {
	max       int64
	textCap   int
	attMedian float64
	// budget is the raw attachment bytes one message may carry (encoded
	// once), so that nothing exceeds max.
	budget              int
	largeOn, hugeOn     bool
	largeHiB, hugeHiB   float64
	tailMean            float64
	textMean, objPerMsg float64
}

func (p Profile) norm() Profile {
	if p == (Profile{}) {
		return Realistic
	}
	if p.Max <= 0 {
		p.Max = Realistic.Max
	}
	p.Max = max(p.Max, minMax)
	if p.Mean <= 0 {
		p.Mean = Realistic.Mean
	}
	return p
}

func logUniformMean(lo, hi float64) float64 { return (hi - lo) / math.Log(hi/lo) }

func (p Profile) sizer() sizer {
	p = p.norm()
	s := sizer{max: p.Max, textCap: int(min(48<<10, p.Max/16))}
	reserve := 3*int64(s.textCap) + 32<<10
	s.budget = int(float64(p.Max-reserve) / b64)
	if hi := min(largeHi, float64(p.Max)/2); hi >= 2*largeLo {
		s.largeOn, s.largeHiB = true, hi
		s.tailMean += logUniformMean(largeLo, hi) / largeEvery
	}
	if float64(p.Max) >= 2*hugeLo {
		s.hugeOn, s.hugeHiB = true, float64(p.Max)
		s.tailMean += logUniformMean(hugeLo, float64(p.Max)) / hugeEvery
	}
	var texts float64
	for _, d := range shapeDefs {
		texts += float64(d.perMille) / 1000 * d.texts
		s.objPerMsg += float64(d.perMille) / 1000 * d.objects
	}
	s.textMean = textMedian * math.Exp(textSigma*textSigma/2)
	rest := float64(p.Mean) - fixedBytes - texts*s.textMean - s.tailMean
	s.attMedian = max(rest/(s.objPerMsg*math.Exp(attSigma*attSigma/2)*b64), attMin)
	return s
}

func lognormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

func (s sizer) textLen(r *rand.Rand) int {
	return int(min(max(lognormal(r, textMedian, textSigma), textMin), float64(s.textCap)))
}

// attachment draws the raw size of one attachment or inline image from
// what is left of the message's budget.
func (s sizer) attachment(r *rand.Rand, left *int) int {
	n := int(min(max(lognormal(r, s.attMedian, attSigma), attMin), float64(*left)))
	n = max(n, 0)
	*left -= n
	return n
}

// big draws the raw size of the one big attachment of a tail message.
func (s sizer) big(r *rand.Rand, t tail, left *int) int {
	lo, hi := float64(largeLo), s.largeHiB
	if t == tailHuge {
		lo, hi = hugeLo, s.hugeHiB
	}
	total := lo * math.Exp(r.Float64()*math.Log(hi/lo))
	n := int(min(total/b64, float64(*left)))
	n = max(n, 0)
	*left -= n
	return n
}

func (s sizer) tailOf(it item) tail {
	if s.hugeOn {
		const perMailbox = 1000
		const mailboxes = hugeEvery / perMailbox
		cell := uint64(it.mbox/mailboxes)<<32 | uint64(it.idx/perMailbox)
		pos := int(mix(uint64(it.seed), cell, 0x4e6) % hugeEvery)
		if pos == it.mbox%mailboxes*perMailbox+it.idx%perMailbox {
			return tailHuge
		}
	}
	if s.largeOn {
		block := uint64(it.mbox)<<32 | uint64(it.idx/largeEvery)
		if int(mix(uint64(it.seed), block, 0x7a11)%largeEvery) == it.idx%largeEvery {
			return tailLarge
		}
	}
	return tailNone
}
