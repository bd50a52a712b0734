package giftcards

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testSecret = []byte("test-secret-test-secret-test-secret-0123")

func newGen(t testing.TB) *CodeGenerator {
	t.Helper()
	g, err := NewCodeGenerator(testSecret)
	require.NoError(t, err)
	return g
}

func TestGenerateFormat(t *testing.T) {
	g := newGen(t)
	cases := []struct {
		name, prefix string
		length       int
		wantPrefix   string
		wantLen      int
	}{
		{"default prefix and length", "", 0, "GIFT", 16},
		{"bulk prefix", BulkPrefix, 0, "PROMO", 16},
		{"lower-case prefix is upper-cased", "promo", 16, "PROMO", 16},
		{"longer body", "GIFT", 20, "GIFT", 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, err := g.Generate(tc.prefix, tc.length)
			require.NoError(t, err)
			parts := strings.Split(code, "-")
			require.Equal(t, tc.wantPrefix, parts[0])
			body := strings.Join(parts[1:], "")
			require.Len(t, body, tc.wantLen+1, "body plus check symbol")
			for _, p := range parts[1 : len(parts)-1] {
				require.Len(t, p, 4, "groups of four")
			}
			require.Len(t, parts[len(parts)-1], 1, "check symbol alone at the end")
			require.Empty(t, strings.Trim(body, Alphabet))
			require.True(t, ValidFormat(code))
		})
	}
}

func TestGenerateRejects(t *testing.T) {
	g := newGen(t)
	cases := []struct {
		name, prefix string
		length       int
	}{
		{"too short for 80 bits", "GIFT", 15},
		{"too long", "GIFT", 40},
		{"digits in prefix", "GIFT1", 16},
		{"one-letter prefix", "G", 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Generate(tc.prefix, tc.length)
			require.ErrorIs(t, err, ErrInvalidRequest)
		})
	}
}

func TestAlphabetHasNoLookAlikes(t *testing.T) {
	require.Len(t, Alphabet, 32)
	for _, c := range "01OI" {
		require.NotContains(t, Alphabet, string(c))
	}
}

func TestNormalize(t *testing.T) {
	g := newGen(t)
	code, err := g.Generate("", 0)
	require.NoError(t, err)
	canonical, err := Normalize(code)
	require.NoError(t, err)
	lower := strings.ToLower(code)
	spaced := "  " + strings.ReplaceAll(code, "-", " - ") + " "
	undashed := code[:5] + strings.ReplaceAll(code[5:], "-", "")
	readOut := strings.ReplaceAll(code, "-", " ") // "GIFT F742 DEHU CFXS 2FJ9 Q"
	for name, in := range map[string]string{"lower case": lower, "blanks": spaced, "no dashes in body": undashed, "blanks for dashes": readOut} {
		t.Run(name, func(t *testing.T) {
			got, err := Normalize(in)
			require.NoError(t, err)
			require.Equal(t, canonical, got)
		})
	}
}

// flip replaces the body symbol at i with another symbol of the alphabet.
func flip(code string, i int) string {
	b := []byte(code)
	pos := 0
	for j := 5; j < len(b); j++ {
		if b[j] == '-' {
			continue
		}
		if pos == i {
			k := strings.IndexByte(Alphabet, b[j])
			b[j] = Alphabet[(k+7)%len(Alphabet)]
			break
		}
		pos++
	}
	return string(b)
}

func TestCheckSymbolCatchesTypos(t *testing.T) {
	g := newGen(t)
	for n := 0; n < 50; n++ {
		code, err := g.Generate("", 0)
		require.NoError(t, err)
		for i := 0; i < 17; i++ {
			require.False(t, ValidFormat(flip(code, i)), "substitution at %d of %s", i, code)
		}
	}
	cases := map[string]string{
		"empty":             "",
		"no prefix":         "ABCD-EFGH",
		"look-alike O":      "GIFT-OOOO-OOOO-OOOO-OOOO-O",
		"too short":         "GIFT-ABCD-EFGH-J",
		"foreign symbols":   "GIFT-ABCD-EFGH-JKLM-NPQ!-R",
		"prefix with digit": "G1FT-ABCD-EFGH-JKLM-NPQR-S",
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Normalize(code)
			require.ErrorIs(t, err, ErrInvalidCode)
			require.Equal(t, ErrInvalidCode.Message, err.(interface{ Error() string }).Error()[len(CodeInvalidCode)+2:], "same message for every bad code")
		})
	}
}

func TestCheckSymbolCatchesAdjacentTranspositions(t *testing.T) {
	g := newGen(t)
	caught, total := 0, 0
	for n := 0; n < 200; n++ {
		code, err := g.Generate("", 0)
		require.NoError(t, err)
		norm, _ := Normalize(code)
		body := []byte(norm[5:])
		for i := 0; i+1 < len(body)-1; i++ {
			if body[i] == body[i+1] {
				continue
			}
			sw := append([]byte(nil), body...)
			sw[i], sw[i+1] = sw[i+1], sw[i]
			total++
			if !ValidFormat("GIFT-" + string(sw)) {
				caught++
			}
		}
	}
	// Luhn mod N misses only the transposition of two specific symbols.
	require.Greater(t, float64(caught)/float64(total), 0.95)
}

func TestKey(t *testing.T) {
	g := newGen(t)
	code, err := g.Generate("", 0)
	require.NoError(t, err)
	key, last4, err := g.Key(code)
	require.NoError(t, err)
	require.True(t, ValidKey(key))
	norm, _ := Normalize(code)
	require.Equal(t, norm[len(norm)-4:], last4)

	t.Run("same code in another spelling, same key", func(t *testing.T) {
		k2, _, err := g.Key(strings.ToLower(code))
		require.NoError(t, err)
		require.Equal(t, key, k2)
	})
	t.Run("another secret, another key", func(t *testing.T) {
		other, err := NewCodeGenerator(bytes.Repeat([]byte("x"), 32))
		require.NoError(t, err)
		k2, _, err := other.Key(code)
		require.NoError(t, err)
		require.NotEqual(t, key, k2)
	})
	t.Run("key does not contain the code", func(t *testing.T) {
		require.NotContains(t, strings.ToUpper(key), norm[5:])
	})
	t.Run("matches", func(t *testing.T) {
		require.True(t, g.Matches(code, key))
		require.False(t, g.Matches(flip(code, 3), key))
	})
	t.Run("weak secret refused", func(t *testing.T) {
		_, err := NewCodeGenerator([]byte("short"))
		require.ErrorIs(t, err, ErrWeakSecret)
	})
}

// Security: at least 80 bits, uniform symbols, no repeats.
func TestSecurityCodeEntropy(t *testing.T) {
	require.GreaterOrEqual(t, EntropyBits(DefaultLength), 80.0)
	g := newGen(t)
	const n = 20000
	seen := make(map[string]bool, n)
	counts := make(map[byte]int)
	for i := 0; i < n; i++ {
		code, err := g.Generate("", 0)
		require.NoError(t, err)
		require.False(t, seen[code], "duplicate code")
		seen[code] = true
		norm, _ := Normalize(code)
		for _, c := range []byte(norm[5 : len(norm)-1]) {
			counts[c]++
		}
	}
	require.Len(t, counts, len(Alphabet), "every symbol is used")
	// Chi-squared test of uniformity over 32 symbols (31 degrees of freedom);
	// 70 is far beyond the 99.99th percentile (~61), so a fair generator
	// never fails, a biased one (modulo bias, a missing symbol) does.
	total := float64(n * DefaultLength)
	exp := total / float64(len(Alphabet))
	chi := 0.0
	for _, c := range counts {
		chi += math.Pow(float64(c)-exp, 2) / exp
	}
	require.Less(t, chi, 70.0)
	// Shannon entropy per symbol close to 5 bits.
	h := 0.0
	for _, c := range counts {
		p := float64(c) / total
		h -= p * math.Log2(p)
	}
	require.InDelta(t, 5.0, h, 0.01)
}

// Security: comparing secrets takes the same time wherever they differ.
func TestSecurityConstantTimeCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	a := strings.Repeat("a", 4096)
	early := "b" + a[1:]
	late := a[:len(a)-1] + "b"
	measure := func(b string) time.Duration {
		best := time.Duration(math.MaxInt64)
		for r := 0; r < 30; r++ {
			start := time.Now()
			for i := 0; i < 200; i++ {
				if EqualSecret(a, b) {
					t.Fatal("different secrets compared equal")
				}
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	e, l := measure(early), measure(late)
	// A short-circuiting comparison is ~100x faster on an early difference;
	// a constant-time one is within noise.
	ratio := float64(l) / float64(e)
	require.Greater(t, ratio, 0.5, "early %v late %v", e, l)
	require.Less(t, ratio, 2.0, "early %v late %v", e, l)
	require.True(t, EqualSecret(a, strings.Clone(a)))
	require.False(t, EqualSecret(a, a[:10]))
}
