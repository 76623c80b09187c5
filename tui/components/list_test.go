package components

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSparkline(t *testing.T) {
	s := Sparkline([]float64{0, 5, 10}, 5, 0, 10)
	if utf8.RuneCountInString(s) != 5 || !strings.HasPrefix(s, "  ▁") || !strings.HasSuffix(s, "█") {
		t.Fatalf("%q", s)
	}
	// A steady value near the middle of a wide range stays flat.
	flat := Sparkline([]float64{2.5, 2.5, 2.5}, 3, 0, 10)
	if flat[0:3] != flat[3:6] || flat[3:6] != flat[6:9] {
		t.Fatalf("flat line drew %q", flat)
	}
	if Sparkline(nil, 3, 0, 1) != "   " || Sparkline([]float64{1}, 0, 0, 1) != "" {
		t.Fatal("edge cases")
	}
}

func TestCursor(t *testing.T) {
	var c Cursor
	c.Move(5, 10, 3)
	if c.Index != 5 || c.Offset != 3 {
		t.Fatalf("%+v", c)
	}
	c.Move(-10, 10, 3)
	if c.Index != 0 || c.Offset != 0 {
		t.Fatalf("%+v", c)
	}
	c.Move(100, 10, 3)
	if c.Index != 9 || c.Offset != 7 {
		t.Fatalf("%+v", c)
	}
	c.Clamp(2, 3)
	if c.Index != 1 || c.Offset != 0 {
		t.Fatalf("%+v", c)
	}
}
