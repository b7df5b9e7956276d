// Command porcupine-bench checks Porcupine's peer histories with Porcupine itself, timing only the
// check (parsing excluded), so bench/linearizability/run.py can compare it with splitbrain's
// checker. Failed ops are dropped (as Jepsen, Knossos and splitbrain do); ops of unknown outcome
// (:info, or never completed) return at the end of the history and may or may not take effect.
//
// Usage: porcupine-bench -model cas-register|kv [-nopartition] [-verbose] [-timeout 60s] FILE...
// Prints one JSON object per file: {"file", "result", "check_s"}.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

const absent = math.MinInt64

type regInput struct {
	op         int // 0 read, 1 write, 2 cas
	arg1, arg2 int64
}

type regOutput struct {
	value   int64
	unknown bool
}

var casRegister = porcupine.Model{
	Init: func() interface{} { return int64(absent) },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(int64)
		in := input.(regInput)
		out := output.(regOutput)
		switch in.op {
		case 0:
			return out.unknown || out.value == st, st
		case 1:
			return true, in.arg1
		default:
			if st == in.arg1 {
				return true, in.arg2
			}
			return out.unknown, st
		}
	},
}

type kvInput struct {
	op         int // 0 get, 1 put, 2 append
	key, value string
}

type kvOutput struct {
	value   string
	unknown bool
}

// kvModel is Porcupine's own kv test model: per key a string state, or, checked as one object,
// a map from keys to strings.
func kvModel(partition bool) porcupine.Model {
	if partition {
		return porcupine.Model{
			Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
				byKey := map[string][]porcupine.Operation{}
				var order []string
				for _, op := range h {
					k := op.Input.(kvInput).key
					if _, seen := byKey[k]; !seen {
						order = append(order, k)
					}
					byKey[k] = append(byKey[k], op)
				}
				var out [][]porcupine.Operation
				for _, k := range order {
					out = append(out, byKey[k])
				}
				return out
			},
			Init: func() interface{} { return "" },
			Step: func(state, input, output interface{}) (bool, interface{}) {
				st := state.(string)
				in := input.(kvInput)
				out := output.(kvOutput)
				switch in.op {
				case 0:
					return out.unknown || out.value == st, st
				case 1:
					return true, in.value
				default:
					return true, st + in.value
				}
			},
		}
	}
	return porcupine.Model{
		Init: func() interface{} { return map[string]string{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			st := state.(map[string]string)
			in := input.(kvInput)
			out := output.(kvOutput)
			if in.op == 0 {
				return out.unknown || out.value == st[in.key], st
			}
			next := make(map[string]string, len(st)+1)
			for k, v := range st {
				next[k] = v
			}
			if in.op == 1 {
				next[in.key] = in.value
			} else {
				next[in.key] = st[in.key] + in.value
			}
			return true, next
		},
		Equal: func(a, b interface{}) bool {
			x, y := a.(map[string]string), b.(map[string]string)
			if len(x) != len(y) {
				return false
			}
			for k, v := range x {
				if w, ok := y[k]; !ok || w != v {
					return false
				}
			}
			return true
		},
	}
}

var logLine = regexp.MustCompile(`jepsen\.util - (\d+)\s+:(invoke|ok|fail|info)\s+:(\w+)\s+(.*?)\s*$`)
var kvLine = regexp.MustCompile(`:process (\d+), :type :(\w+), :f :(\w+), :key "([^"]*)", :value (nil|"[^"]*")`)

type pending struct {
	call  int64
	input interface{}
}

// ops pairs invocations and completions; :fail ops are dropped, unknown ones end after all else.
func ops(path, model string) []porcupine.Operation {
	fh, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer fh.Close()
	open := map[int]pending{}
	var out []porcupine.Operation
	var t int64
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Text()
		var proc int
		var typ string
		var input, output interface{}
		if model == "kv" {
			m := kvLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			proc, _ = strconv.Atoi(m[1])
			typ = m[2]
			val := strings.Trim(m[5], "\"")
			if m[5] == "nil" {
				val = ""
			}
			op := map[string]int{"get": 0, "put": 1, "append": 2}[m[3]]
			input = kvInput{op, m[4], val}
			output = kvOutput{value: val}
		} else {
			m := logLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			proc, _ = strconv.Atoi(m[1])
			typ = m[2]
			in := regInput{op: map[string]int{"read": 0, "write": 1, "cas": 2}[m[3]]}
			v := strings.Trim(m[4], "[]")
			parts := strings.Fields(v)
			if in.op == 1 && len(parts) == 1 {
				in.arg1, _ = strconv.ParseInt(parts[0], 10, 64)
			}
			if in.op == 2 && len(parts) == 2 {
				in.arg1, _ = strconv.ParseInt(parts[0], 10, 64)
				in.arg2, _ = strconv.ParseInt(parts[1], 10, 64)
			}
			input = in
			out := regOutput{value: absent}
			if in.op == 0 && m[4] != "nil" {
				out.value, _ = strconv.ParseInt(m[4], 10, 64)
			}
			output = out
		}
		t++
		switch typ {
		case "invoke":
			open[proc] = pending{t, input}
		case "ok":
			p := open[proc]
			delete(open, proc)
			out = append(out, porcupine.Operation{ClientId: proc, Input: p.input, Call: p.call, Output: output, Return: t})
		case "fail":
			delete(open, proc)
		case "info":
			// stays open: handled with the never-completed ones below
		}
	}
	for proc, p := range open {
		var unknown interface{} = regOutput{unknown: true}
		if model == "kv" {
			unknown = kvOutput{unknown: true}
		}
		out = append(out, porcupine.Operation{ClientId: proc, Input: p.input, Call: p.call, Output: unknown, Return: t + 1})
	}
	return out
}

func main() {
	model := flag.String("model", "cas-register", "cas-register or kv")
	noPartition := flag.Bool("nopartition", false, "check kv as one object")
	verbose := flag.Bool("verbose", false, "CheckOperationsVerbose (computes partial linearizations)")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: never)")
	flag.Parse()
	m := casRegister
	if *model == "kv" {
		m = kvModel(!*noPartition)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		h := ops(path, *model)
		start := time.Now()
		var res porcupine.CheckResult
		if *verbose {
			res, _ = porcupine.CheckOperationsVerbose(m, h, *timeout)
		} else {
			res = porcupine.CheckOperationsTimeout(m, h, *timeout)
		}
		elapsed := time.Since(start).Seconds()
		enc.Encode(map[string]interface{}{"file": path, "result": string(res), "check_s": elapsed})
	}
}
