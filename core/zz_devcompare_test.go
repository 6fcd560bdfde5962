package core

import (
	"encoding/json"
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestDevEmailCP(t *testing.T) {
	f, err := os.Open("/tmp/dev/email_cp.txt")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 2<<20), 4<<20)
	for sc.Scan() {
		tmpl, bits, _ := strings.Cut(sc.Text(), "\t")
		i := 0
		bad := 0
		for c := rune(0); c < 0x110000; c++ {
			if c >= 0xd800 && c <= 0xdfff {
				continue
			}
			want := bits[i] == '1'
			i++
			var s string
			if strings.Count(tmpl, "%s") == 2 {
				s = fmt.Sprintf(tmpl, string(c), string(c))
			} else {
				s = fmt.Sprintf(tmpl, string(c))
			}
			if got := IsValidEmail(s); got != want {
				bad++
				if bad < 15 {
					t.Logf("%s %U: got %v want %v", tmpl, c, got, want)
				}
			}
		}
		t.Logf("%s: %d mismatches", tmpl, bad)
	}
}

func TestDevRandom(t *testing.T) {
	f, err := os.Open("/tmp/dev/rand_dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 2<<20), 4<<20)
	bad := map[string]int{}
	for sc.Scan() {
		var c struct {
			F   string `json:"f"`
			In  string `json:"in"`
			Out any    `json:"out"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		var got any
		want := c.Out
		switch c.F {
		case "email":
			got = IsValidEmail(c.In)
		case "username":
			got = IsValidUsername(c.In)
		case "normalize_email":
			got = NormalizeEmail(c.In)
		case "int":
			n, ok := ParseDRFInteger(c.In)
			if ok {
				got = float64(n)
			} else {
				got = nil
			}
			if want != nil {
				// compare exactly via re-parse of literal
				var w json.Number
				_ = w
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			bad[c.F]++
			if bad[c.F] < 10 {
				t.Logf("%s %+q: got %v want %v", c.F, c.In, got, want)
			}
		}
	}
	t.Logf("mismatches: %v", bad)
}

func TestDevLowerCtx(t *testing.T) {
	f, _ := os.Open("/tmp/dev/lowerctx.txt")
	sc := bufio.NewScanner(f)
	bad := 0
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		var cp rune
		fmt.Sscanf(fs[0], "%x", &cp)
		c := string(cp)
		ins := []string{c, "A" + c + "\u03a3", "1" + c + "\u03a3", "A\u03a3" + c, "A\u03a3" + c + "A", c + "\u03a3", "\u03a3" + c}
		for k, in := range ins {
			var want []rune
			for _, h := range strings.Fields(fs[k+1]) {
				var v rune
				fmt.Sscanf(h, "%x", &v)
				want = append(want, v)
			}
			if got := pyLower(in); got != string(want) {
				bad++
				if bad < 100000 {
					t.Logf("%U ctx %d: got %+q want %+q", cp, k, got, string(want))
				}
			}
		}
	}
	t.Logf("bad %d", bad)
}
