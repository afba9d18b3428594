package stats

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.12g, want %.12g ± %g", what, got, want, tol)
	}
}

func TestWilson(t *testing.T) {
	z2 := Z95 * Z95 // 3.841458820694124
	tests := []struct {
		name   string
		x, n   int64
		lo, hi float64
		tol    float64
	}{
		// Newcombe (1998), the example on Wikipedia's "Binomial proportion confidence interval":
		// 81 of 263. By hand, with z² = 3.841459:
		//   centre = (81 + z²/2) / (263 + z²) = 82.920729 / 266.841459 = 0.310748
		//   half   = z·√(81·182/263 + z²/4) / (263 + z²) = 1.959964·√57.013597 / 266.841459
		//          = 1.959964·7.550735 / 266.841459 = 0.055461
		//   → [0.255287, 0.366209], published rounded as [0.2553, 0.3662].
		{"newcombe 81 of 263", 81, 263, 0.2553, 0.3662, 5e-5},
		{"newcombe to more digits", 81, 263, 0.255289, 0.366210, 1e-6},
		// No votes: no information, the whole of [0, 1].
		{"no votes", 0, 0, 0, 1, 0},
		// One option holds every vote: upper bound exactly 1, lower bound n/(n+z²).
		{"all of 10", 10, 10, 10 / (10 + z2), 1, 1e-15},
		{"all of 1", 1, 1, 1 / (1 + z2), 1, 1e-15},
		{"none of 10", 0, 10, 0, z2 / (10 + z2), 1e-15},
		// Half of a billion: the interval is p ± z·√(p(1-p)/n) to many digits, 0.5 ± 3.0990e-5.
		{"half of a billion", 500_000_000, 1_000_000_000, 0.5 - Z95*math.Sqrt(0.25/1e9), 0.5 + Z95*math.Sqrt(0.25/1e9), 1e-12},
		{"all of a billion", 1e9, 1e9, 1e9 / (1e9 + z2), 1, 1e-15},
		{"more successes than trials are clamped", 12, 10, 10 / (10 + z2), 1, 1e-15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := Wilson(tt.x, tt.n, Z95)
			near(t, "lower", iv.Lower, tt.lo, tt.tol)
			near(t, "upper", iv.Upper, tt.hi, tt.tol)
			if tt.x == tt.n && tt.n > 0 && iv.Upper != 1 {
				t.Errorf("upper bound of x = n must be exactly 1, got %v", iv.Upper)
			}
		})
	}
}

// The interval of the other option is the mirror image: the two shares of a two-option ballot
// always add up to 1, and so must their bounds.
func TestWilsonIsSymmetric(t *testing.T) {
	for _, c := range [][2]int64{{81, 263}, {1, 2}, {0, 7}, {999_999_999, 1_000_000_000}} {
		x, n := c[0], c[1]
		a, b := Wilson(x, n, Z95), Wilson(n-x, n, Z95)
		near(t, "lower+upper", a.Lower+b.Upper, 1, 1e-12)
		near(t, "upper+lower", a.Upper+b.Lower, 1, 1e-12)
	}
}

func TestMargin(t *testing.T) {
	t.Run("two options map the Wilson interval onto the margin", func(t *testing.T) {
		for _, c := range [][3]int64{{81, 182, 263}, {182, 81, 263}, {1, 0, 1}, {0, 5, 5}, {50, 50, 100}, {600_000_000, 400_000_000, 1_000_000_000}} {
			d, iv := Margin(c[0], c[1], c[2], Z95)
			w := Wilson(c[0], c[2], Z95)
			near(t, "margin", d, float64(c[0]-c[1])/float64(c[2]), 1e-15)
			near(t, "lower", iv.Lower, 2*w.Lower-1, 1e-12)
			near(t, "upper", iv.Upper, 2*w.Upper-1, 1e-12)
		}
	})
	t.Run("81 to 182 of 263", func(t *testing.T) {
		// 2·0.255289 - 1 = -0.489423, 2·0.366210 - 1 = -0.267581
		d, iv := Margin(81, 182, 263, Z95)
		near(t, "margin", d, -101.0/263, 1e-15)
		near(t, "lower", iv.Lower, -0.489423, 2e-6)
		near(t, "upper", iv.Upper, -0.267581, 2e-6)
	})
	t.Run("no votes", func(t *testing.T) {
		d, iv := Margin(0, 0, 0, Z95)
		if d != 0 || iv != (Interval{-1, 1}) {
			t.Errorf("got %v %v, want 0 [-1, 1]", d, iv)
		}
	})
	t.Run("a tie is centred on zero", func(t *testing.T) {
		d, iv := Margin(500, 500, 1000, Z95)
		near(t, "margin", d, 0, 0)
		near(t, "lower+upper", iv.Lower+iv.Upper, 0, 1e-15)
		if !iv.Contains(0) {
			t.Errorf("%v must contain 0", iv)
		}
	})
	t.Run("three options agree with the multinomial normal interval for large n", func(t *testing.T) {
		// 40% and 35% of a million votes, 25% elsewhere. Var(p1-p2) = (p1 + p2 - (p1-p2)²)/n
		// = (0.75 - 0.0025)/1e6, so the half-width is 1.959964·√7.475e-7 = 1.694557e-3. Ignoring
		// the negative correlation of the shares would give 1.340e-3 instead.
		d, iv := Margin(400_000, 350_000, 1_000_000, Z95)
		half := Z95 * math.Sqrt(0.7475/1e6)
		near(t, "lower", iv.Lower, d-half, 2e-6)
		near(t, "upper", iv.Upper, d+half, 2e-6)
	})
	t.Run("huge counts", func(t *testing.T) {
		d, iv := Margin(1_000_000_000, 999_000_000, 2_000_000_000, Z95)
		if math.IsNaN(iv.Lower) || math.IsNaN(iv.Upper) || !(iv.Lower > 0) || !iv.Contains(d) {
			t.Errorf("margin %v interval %v", d, iv)
		}
	})
}

func TestLeadProbability(t *testing.T) {
	tests := []struct {
		name   string
		x1, x2 int64
		want   float64
		tol    float64
	}{
		{"no votes is a tie", 0, 0, 0.5, 0},
		{"tie", 7, 7, 0.5, 0},
		{"huge tie", 1e9, 1e9, 0.5, 0},
		// P(Binomial(x1+x2+1, ½) ≤ x1), counted by hand:
		{"1 to 0: 3 of 4", 1, 0, 3.0 / 4, 1e-15},        // m=2: (1+2)/4
		{"2 to 0: 7 of 8", 2, 0, 7.0 / 8, 1e-15},        // m=3: (1+3+3)/8
		{"3 to 1: 26 of 32", 3, 1, 26.0 / 32, 1e-15},    // m=5: 1 - (5+1)/32
		{"0 to 1: 1 of 4", 0, 1, 1.0 / 4, 1e-15},        // the complement of 1 to 0
		{"60 to 40", 60, 40, 0.9769779665353286, 1e-12}, // exact rational sum of C(101,k)/2^101, k ≤ 60
		{"520 to 480", 520, 480, 0.8969463445835234, 1e-12},
		// Beyond the exact range: m = 2e9 - 1e5 + 1 = 1,999,900,001, √m/2 = 22360.12, and
		// x2 + ½ - m/2 = -5e4, so z = -2.236124 and 1 - Φ(z) = 0.987328.
		{"a billion to a billion less 1e5", 1e9, 1e9 - 1e5, 0.9873281712200133, 1e-9},
		{"a billion to none", 1e9, 0, 1, 0},
		{"none to a billion", 0, 1e9, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LeadProbability(tt.x1, tt.x2)
			near(t, "P", got, tt.want, tt.tol)
			near(t, "P + P(reversed)", got+LeadProbability(tt.x2, tt.x1), 1, 1e-12)
		})
	}
}

// The exact sum and the normal approximation must meet where one hands over to the other.
func TestHalfBinomialCDFMethodsAgreeAtTheLimit(t *testing.T) {
	m := int64(exactLimit)
	for _, k := range []int64{m/2 - 3000, m/2 - 1000, m/2 - 100, m/2 - 1} {
		exact := halfBinomialCDF(k, m)
		fm := float64(m)
		approx := NormalCDF((float64(k) + 0.5 - fm/2) / (math.Sqrt(fm) / 2))
		near(t, "exact vs normal", exact, approx, 1e-7)
	}
}

func TestLeadProbabilityGrowsWithTheLead(t *testing.T) {
	prev := 0.5
	for lead := int64(1); lead <= 200; lead++ {
		p := LeadProbability(5000+lead, 5000)
		if p <= prev || p > 1 {
			t.Fatalf("lead %d: P = %v after %v", lead, p, prev)
		}
		prev = p
	}
}

func TestRobustZ(t *testing.T) {
	t.Run("one burst", func(t *testing.T) {
		// median 3; deviations 2,1,0,1,97 → MAD 1; scale 1/0.67449 = 1.482602
		r := RobustZ([]float64{1, 2, 3, 4, 100})
		near(t, "median", r.Median, 3, 0)
		near(t, "mad", r.MAD, 1, 0)
		near(t, "z(100)", r.Scores[4], 97*0.6744897501960817, 1e-9) // 65.4255
		near(t, "z(1)", r.Scores[0], -2*0.6744897501960817, 1e-9)
	})
	t.Run("mostly empty buckets fall back to the mean absolute deviation", func(t *testing.T) {
		// median 0, MAD 0; mean |x - 0| = 10/7; scale = 10/7·√(π/2) = 1.790449; z(10) = 5.585192
		r := RobustZ([]float64{0, 0, 0, 0, 0, 0, 10})
		near(t, "mad", r.MAD, 0, 0)
		near(t, "scale", r.Scale, 1.7904487675935716, 1e-12)
		near(t, "z(10)", r.Scores[6], 5.585191925620058, 1e-12)
	})
	t.Run("flat series has no outliers", func(t *testing.T) {
		r := RobustZ([]float64{4, 4, 4})
		for i, z := range r.Scores {
			if z != 0 {
				t.Errorf("score %d = %v, want 0", i, z)
			}
		}
	})
	t.Run("empty", func(t *testing.T) {
		if r := RobustZ(nil); len(r.Scores) != 0 || r.Scale != 0 {
			t.Errorf("got %+v", r)
		}
	})
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := Median(in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("Median modified its input: %v", in)
			}
		}
	}
}
