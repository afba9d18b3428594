// Package stats holds the statistics of the poll as pure functions of vote counts, for the
// analyzer's API and the result page: confidence intervals for shares and for the margin between
// two options, the posterior probability that a lead holds, and robust scores for spotting bursts. Counts are int64 and every formula works in
// float64 on shares, so a billion votes neither overflow nor lose the answer.
package stats

import (
	"math"
	"slices"
)

// Z95 is the two-sided 95% quantile of the standard normal distribution, Φ⁻¹(0.975).
const Z95 = 1.959963984540054

// Interval is a closed interval [Lower, Upper].
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Contains reports whether x lies in the interval.
func (iv Interval) Contains(x float64) bool { return iv.Lower <= x && x <= iv.Upper }

// Share returns x/n, or 0 when n is 0.
func Share(x, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(clamp(x, n)) / float64(n)
}

// Wilson returns the Wilson score interval for a proportion of x successes in n trials at the
// normal quantile z. Unlike the textbook p ± z·se interval it stays inside [0, 1], is never empty
// at 0 or n successes, and keeps close to its nominal coverage for small n.
//
// With n = 0 there is no information and the interval is [0, 1], which is also the limit of the
// formula as n → 0. With x = n the upper bound is exactly 1 and the lower bound n/(n+z²); with x = 0
// the lower bound is exactly 0 and the upper bound z²/(n+z²). x is clamped to [0, n].
func Wilson(x, n int64, z float64) Interval {
	if n <= 0 {
		return Interval{0, 1}
	}
	x = clamp(x, n)
	fn := float64(n)
	p := float64(x) / fn
	z2 := z * z
	// Divided through by n, so no product of two counts is ever formed.
	denom := 1 + z2/fn
	center := (p + z2/(2*fn)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	iv := Interval{Lower: max(0, center-half), Upper: min(1, center+half)}
	// The closed forms at the edges, so that rounding cannot leave 1 - 1e-16 where 1 is exact.
	switch x {
	case n:
		iv = Interval{Lower: fn / (fn + z2), Upper: 1}
	case 0:
		iv = Interval{Lower: 0, Upper: z2 / (fn + z2)}
	}
	return iv
}

// Margin returns the difference of shares d = x1/n - x2/n of two options counted among the same n
// votes, and a confidence interval for it at the normal quantile z.
//
// The interval is Newcombe's square-and-add construction (MOVER: method of variance estimates
// recovery) built from the two Wilson intervals, with the correlation of two multinomial shares,
// ρ = -√(p1·p2 / ((1-p1)(1-p2))). With only two options (x1 + x2 = n) ρ is -1 and the interval is
// exactly [2·L1 - 1, 2·U1 - 1], the Wilson interval of the first share mapped onto the margin. With
// n = 0 it is [-1, 1].
func Margin(x1, x2, n int64, z float64) (float64, Interval) {
	p1, p2 := Share(x1, n), Share(x2, n)
	w1, w2 := Wilson(x1, n, z), Wilson(x2, n, z)
	d := p1 - p2
	rho := -1.0 // the limit when one option holds every vote and so the other none
	if q := (1 - p1) * (1 - p2); q > 0 {
		rho = -math.Sqrt(p1 * p2 / q)
	}
	moverBound := func(a, b float64) float64 { return math.Sqrt(max(0, a*a+b*b-2*rho*a*b)) }
	lower := d - moverBound(p1-w1.Lower, w2.Upper-p2)
	upper := d + moverBound(w1.Upper-p1, p2-w2.Lower)
	return d, Interval{Lower: max(-1, lower), Upper: min(1, upper)}
}

// Lead compares the two options with the most votes.
type Lead struct {
	Margin      float64  // x1/n - x2/n
	Interval    Interval // its 95% confidence interval
	Significant bool     // the first is ahead and the whole interval lies above zero
	Probability float64  // that the first's underlying share exceeds the second's
}

// LeadOf compares x1 ≥ x2 votes of n in all. A tie is never significant: its interval always
// contains zero.
func LeadOf(x1, x2, n int64) Lead {
	d, iv := Margin(x1, x2, n, Z95)
	return Lead{Margin: d, Interval: iv, Significant: x1 > x2 && iv.Lower > 0, Probability: LeadProbability(x1, x2)}
}

// LeadProbability returns the probability that the first option's underlying share exceeds the
// second's, given x1 and x2 votes: the posterior P(θ1 > θ2) under a uniform Dirichlet prior on the
// shares, treating the votes as a random sample of the electorate. Other options do not matter:
// θ1/(θ1+θ2) has the posterior Beta(x1+1, x2+1), so the answer is P(Beta(x1+1, x2+1) > ½), which
// equals P(Binomial(x1+x2+1, ½) ≤ x1). That binomial tail is summed exactly up to a million votes
// and taken from the normal approximation with continuity correction above (its error there is
// below 1e-7). A tie, including 0 to 0, gives exactly ½.
func LeadProbability(x1, x2 int64) float64 {
	x1, x2 = max(0, x1), max(0, x2)
	switch {
	case x1 == x2:
		return 0.5
	case x1 < x2:
		return 1 - LeadProbability(x2, x1)
	}
	// x1 > x2. By the symmetry of Binomial(m, ½), P(X ≤ x1) = 1 - P(X ≤ m-1-x1) = 1 - P(X ≤ x2), and
	// the small lower tail is the one that can be summed accurately.
	return 1 - halfBinomialCDF(x2, x1+x2+1)
}

// exactLimit is the largest number of trials for which halfBinomialCDF sums terms.
const exactLimit = 1 << 20

// halfBinomialCDF returns P(X ≤ k) for X ~ Binomial(m, ½) and k < m/2.
func halfBinomialCDF(k, m int64) float64 {
	if m > exactLimit {
		fm := float64(m)
		return NormalCDF((float64(k) + 0.5 - fm/2) / (math.Sqrt(fm) / 2))
	}
	// Start at the largest term, C(m,k)/2^m, then walk down with the ratio of neighbouring terms,
	// C(m,j-1)/C(m,j) = j/(m-j+1), stopping once the terms no longer change the sum.
	lg := func(x int64) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	term := math.Exp(lg(m) - lg(k) - lg(m-k) - float64(m)*math.Ln2)
	sum := 0.0
	for j := k; j >= 0 && term > sum*1e-17; j-- {
		sum += term
		term *= float64(j) / float64(m-j+1)
	}
	return sum
}

// NormalCDF is Φ, the distribution function of the standard normal distribution.
func NormalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// Median returns the median of xs (the mean of the middle two for an even count), or 0 for none.
// xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// Robust is the centre and spread of a series, as RobustZ measures them.
type Robust struct {
	Median float64 // the centre
	MAD    float64 // median absolute deviation from the median
	// Scale is the divisor of a score: MAD/0.6745 (an estimate of the standard deviation for normal
	// data), or, when more than half of the values are equal and MAD is 0, the mean absolute
	// deviation times √(π/2). 0 when every value is the same.
	Scale float64
	// Scores are the modified z-scores (x - Median)/Scale, 0 where Scale is 0.
	Scores []float64
}

// madToSigma converts a median absolute deviation to a standard deviation for normal data:
// 1/Φ⁻¹(¾).
const madToSigma = 1 / 0.6744897501960817

// RobustZ scores every value by its distance from the median in units of a spread that a few
// extreme values cannot inflate: the modified z-score of Iglewicz and Hoaglin, for which 3.5 is
// the customary threshold of an outlier. A burst therefore stands out even in a short series,
// where it would drag a mean and standard deviation towards itself.
func RobustZ(xs []float64) Robust {
	r := Robust{Median: Median(xs), Scores: make([]float64, len(xs))}
	dev := make([]float64, len(xs))
	meanAD := 0.0
	for i, x := range xs {
		dev[i] = math.Abs(x - r.Median)
		meanAD += dev[i]
	}
	r.MAD = Median(dev)
	switch {
	case r.MAD > 0:
		r.Scale = r.MAD * madToSigma
	case meanAD > 0:
		r.Scale = meanAD / float64(len(xs)) * math.Sqrt(math.Pi/2)
	default:
		return r
	}
	for i, x := range xs {
		r.Scores[i] = (x - r.Median) / r.Scale
	}
	return r
}

func clamp(x, n int64) int64 { return min(max(x, 0), n) }
