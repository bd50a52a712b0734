package topics

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

// The integer rendering must give what the decimal's own arithmetic gives,
// for every coefficient size, exponent and number of minor units: amounts
// on the wire and in the sinks are compared as strings downstream.
func TestAppendAmountUnitsMatchesDecimalArithmetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	coefficients := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(-1), big.NewInt(1080), big.NewInt(-125),
		big.NewInt(999_999_999_999_999_999), big.NewInt(-999_999_999_999_999_999),
		new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil), new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil)}
	for range 2000 {
		digits := make([]byte, 1+rng.IntN(24))
		for i := range digits {
			digits[i] = byte('0' + rng.IntN(10))
		}
		if rng.IntN(4) == 0 { // trailing zeros, which a scale drops
			for i := len(digits) - 1; i > 0 && i >= len(digits)-3; i-- {
				digits[i] = '0'
			}
		}
		c, _ := new(big.Int).SetString(string(digits), 10)
		if rng.IntN(2) == 0 {
			c.Neg(c)
		}
		coefficients = append(coefficients, c)
	}
	for _, c := range coefficients {
		for exp := int32(-22); exp <= 6; exp++ {
			d := decimal.NewFromBigInt(c, exp)
			for _, units := range []int32{0, 2, 3, 4, 17, 18, 19} {
				require.Equal(t, amountStringBig(d, units), string(AppendAmountUnits(nil, d, units)), "%s e%d, %d units", c, exp, units)
			}
		}
	}
}

func TestAppendAmountUnitsAppends(t *testing.T) {
	b := AppendAmountUnits([]byte(`"total":"`), decimal.RequireFromString("10.8"), 2)
	require.Equal(t, `"total":"10.80`, string(b))
}
