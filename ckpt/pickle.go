package ckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A reader of Python pickles (protocols 0–5), limited to what PyTorch
// checkpoints written by DeepSpeed and Megatron hold. It never runs code: a
// global is a name, and calling one (REDUCE, NEWOBJ) builds a Go value only
// for the classes listed in reduce; anything else is an error wrapping
// ErrUnsupported that names the class, or, with lenient decoding, an
// *Object that records the call.
//
// Values decode to: nil, bool, int64, float64, string, []byte, []any (a
// list, set or frozenset), Tuple, *Dict (dict, collections.OrderedDict,
// argparse.Namespace), *TorchTensor, Global (a class or function named
// but not called, e.g. the dtype torch.float16) and *Object.

// ErrUnsupported is wrapped when a pickle uses an opcode or a class this
// reader does not build.
var ErrUnsupported = errors.New("ckpt: unsupported pickle content")

// Tuple is a Python tuple.
type Tuple []any

// Global is a module-level name a pickle refers to (GLOBAL, STACK_GLOBAL).
type Global struct{ Module, Name string }

func (g Global) String() string { return g.Module + "." + g.Name }

// Object is an instance of a class this reader does not know, kept as the
// call that built it (lenient decoding only).
type Object struct {
	Class Global
	Args  Tuple
	State any // from BUILD, or nil
}

// Dict is a Python dict in insertion order. Class is "" for a plain dict,
// else the class it came from (collections.OrderedDict,
// argparse.Namespace); the writer writes OrderedDict for Ordered ones.
type Dict struct {
	Class string
	keys  []any
	vals  []any
	index map[any]int
}

// NewDict returns an empty plain dict.
func NewDict() *Dict { return &Dict{} }

// NewOrderedDict returns an empty collections.OrderedDict.
func NewOrderedDict() *Dict { return &Dict{Class: "collections.OrderedDict"} }

// Set sets d[k] = v; a new key goes last. k must be comparable.
func (d *Dict) Set(k, v any) *Dict {
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return d
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return d
}

// Get returns d[k].
func (d *Dict) Get(k any) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Len is the number of items.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in order.
func (d *Dict) Keys() []any { return append([]any(nil), d.keys...) }

// Item returns the i-th key and value.
func (d *Dict) Item(i int) (any, any) { return d.keys[i], d.vals[i] }

// Ordered reports whether d is an OrderedDict.
func (d *Dict) Ordered() bool { return d.Class == "collections.OrderedDict" }

// unpickler is the pickle machine's state.
type unpickler struct {
	b       []byte
	pos     int
	stack   []any
	marks   [][]any
	memo    map[int]any
	persist func(pid any) (any, error)
	lenient bool
}

type mark struct{}

func (u *unpickler) errf(format string, args ...any) error {
	return fmt.Errorf("pickle at byte %d: "+format, append([]any{u.pos}, args...)...)
}

func (u *unpickler) next(n int) ([]byte, error) {
	if n < 0 || u.pos+n > len(u.b) || u.pos+n < u.pos {
		return nil, u.errf("truncated (%d bytes wanted)", n)
	}
	s := u.b[u.pos : u.pos+n]
	u.pos += n
	return s, nil
}

func (u *unpickler) line() (string, error) {
	i := strings.IndexByte(string(u.b[u.pos:]), '\n')
	if i < 0 {
		return "", u.errf("unterminated line")
	}
	s := string(u.b[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.errf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.errf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK and restores the
// stack below it.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errf("no MARK")
	}
	items := u.stack
	u.stack = u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	return items, nil
}

// unpickle decodes one pickle from b.
func unpickle(b []byte, persist func(any) (any, error), lenient bool) (any, error) {
	u := &unpickler{b: b, memo: map[int]any{}, persist: persist, lenient: lenient}
	for {
		if u.pos >= len(u.b) {
			return nil, u.errf("no STOP opcode")
		}
		op := u.b[u.pos]
		u.pos++
		if op == '.' {
			return u.pop()
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		_, err := u.next(1)
		return err
	case 0x95: // FRAME
		_, err := u.next(8)
		return err
	case '(':
		u.marks = append(u.marks, u.stack)
		u.stack = nil
	case '0':
		_, err := u.pop()
		return err
	case '1':
		_, err := u.popMark()
		return err
	case '2':
		v, err := u.top()
		u.push(v)
		return err
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	default:
		return u.stepData(op)
	}
	return nil
}

func (u *unpickler) stepData(op byte) error {
	le := binary.LittleEndian
	switch op {
	case 'J':
		b, err := u.next(4)
		if err == nil {
			u.push(int64(int32(le.Uint32(b))))
		}
		return err
	case 'K':
		b, err := u.next(1)
		if err == nil {
			u.push(int64(b[0]))
		}
		return err
	case 'M':
		b, err := u.next(2)
		if err == nil {
			u.push(int64(le.Uint16(b)))
		}
		return err
	case 0x8a, 0x8b: // LONG1, LONG4
		return u.long(op)
	case 'I', 'L':
		return u.textInt()
	case 'G':
		b, err := u.next(8)
		if err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
		return err
	case 'F':
		s, err := u.line()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errf("FLOAT %q", s)
		}
		u.push(f)
	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e:
		return u.sized(op)
	default:
		return u.stepCollection(op)
	}
	return nil
}

func (u *unpickler) long(op byte) error {
	n := 1
	if op == 0x8b {
		n = 4
	}
	b, err := u.next(n)
	if err != nil {
		return err
	}
	size := int(b[0])
	if n == 4 {
		size = int(binary.LittleEndian.Uint32(b))
	}
	b, err = u.next(size)
	if err != nil {
		return err
	}
	// Little-endian two's complement.
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("integer %s does not fit 64 bits", v))
	}
	u.push(v.Int64())
	return nil
}

func (u *unpickler) textInt() error {
	s, err := u.line()
	if err != nil {
		return err
	}
	switch s {
	case "00":
		u.push(false)
		return nil
	case "01":
		u.push(true)
		return nil
	}
	v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
	if err != nil {
		return u.errf("INT %q", s)
	}
	u.push(v)
	return nil
}

func (u *unpickler) sized(op byte) error {
	var n int
	switch op {
	case 0x8c, 'U', 'C':
		b, err := u.next(1)
		if err != nil {
			return err
		}
		n = int(b[0])
	case 'X', 'T', 'B':
		b, err := u.next(4)
		if err != nil {
			return err
		}
		n = int(binary.LittleEndian.Uint32(b))
	default:
		b, err := u.next(8)
		if err != nil {
			return err
		}
		v := binary.LittleEndian.Uint64(b)
		if v > uint64(len(u.b)) {
			return u.errf("length %d past the end", v)
		}
		n = int(v)
	}
	b, err := u.next(n)
	if err != nil {
		return err
	}
	if op == 'B' || op == 'C' || op == 0x8e {
		u.push(append([]byte(nil), b...))
	} else {
		u.push(string(b))
	}
	return nil
}

func (u *unpickler) stepCollection(op byte) error {
	switch op {
	case ']':
		u.push([]any{})
	case ')':
		u.push(Tuple{})
	case '}':
		u.push(NewDict())
	case 0x8f:
		u.push([]any{})
	case 'l', 't', 'd', 0x91:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		switch op {
		case 'l', 0x91:
			u.push(append([]any{}, items...))
		case 't':
			u.push(Tuple(append([]any{}, items...)))
		default:
			d := NewDict()
			if err := u.setItems(d, items); err != nil {
				return err
			}
			u.push(d)
		}
	case 0x85, 0x86, 0x87:
		n := int(op - 0x84)
		if len(u.stack) < n {
			return u.errf("stack underflow")
		}
		t := Tuple(append([]any{}, u.stack[len(u.stack)-n:]...))
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case 'a', 'e', 0x90:
		return u.appends(op)
	case 's', 'u':
		return u.setitems(op)
	default:
		return u.stepObject(op)
	}
	return nil
}

func (u *unpickler) appends(op byte) error {
	var items []any
	if op == 'a' {
		v, err := u.pop()
		if err != nil {
			return err
		}
		items = []any{v}
	} else {
		var err error
		if items, err = u.popMark(); err != nil {
			return err
		}
	}
	if len(u.stack) == 0 {
		return u.errf("stack underflow")
	}
	l, ok := u.stack[len(u.stack)-1].([]any)
	if !ok {
		return u.errf("APPEND to a %T", u.stack[len(u.stack)-1])
	}
	u.stack[len(u.stack)-1] = append(l, items...)
	return nil
}

func (u *unpickler) setitems(op byte) error {
	var items []any
	if op == 's' {
		if len(u.stack) < 2 {
			return u.errf("stack underflow")
		}
		items = append([]any{}, u.stack[len(u.stack)-2:]...)
		u.stack = u.stack[:len(u.stack)-2]
	} else {
		var err error
		if items, err = u.popMark(); err != nil {
			return err
		}
	}
	v, err := u.top()
	if err != nil {
		return err
	}
	d, ok := v.(*Dict)
	if !ok {
		return u.errf("SETITEM on a %T", v)
	}
	return u.setItems(d, items)
}

func (u *unpickler) setItems(d *Dict, items []any) error {
	if len(items)%2 != 0 {
		return u.errf("odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		if !hashable(items[i]) {
			return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("dict key of type %T", items[i]))
		}
		d.Set(items[i], items[i+1])
	}
	return nil
}

func hashable(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64, string, Global:
		return true
	}
	return false
}

func (u *unpickler) stepObject(op byte) error {
	switch op {
	case 'c':
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		u.push(Global{mod, name})
	case 0x93:
		name, err1 := u.pop()
		mod, err2 := u.pop()
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return u.errf("bad STACK_GLOBAL")
		}
		u.push(Global{ms, ns})
	case 'R', 0x81:
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		return u.call(fn, args)
	case 0x92:
		if len(u.stack) < 3 {
			return u.errf("stack underflow")
		}
		fn, args := u.stack[len(u.stack)-3], u.stack[len(u.stack)-2]
		u.stack = u.stack[:len(u.stack)-3]
		return u.call(fn, args)
	case 'b':
		return u.build()
	case 'Q', 'P':
		return u.persid(op)
	default:
		return u.stepMemo(op)
	}
	return nil
}

func (u *unpickler) persid(op byte) error {
	var pid any
	if op == 'P' {
		s, err := u.line()
		if err != nil {
			return err
		}
		pid = s
	} else {
		var err error
		if pid, err = u.pop(); err != nil {
			return err
		}
	}
	if u.persist == nil {
		return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("persistent id without a loader"))
	}
	v, err := u.persist(pid)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
}

func (u *unpickler) call(fn, args any) error {
	g, ok := fn.(Global)
	if !ok {
		return u.errf("call of a %T", fn)
	}
	t, ok := args.(Tuple)
	if !ok {
		return u.errf("arguments of %s are a %T", g, args)
	}
	build, known := reducers[g.String()]
	if !known {
		if !u.lenient {
			return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("class or function %s", g))
		}
		u.push(&Object{Class: g, Args: t})
		return nil
	}
	v, err := build(t)
	if err != nil {
		return fmt.Errorf("%s: %w", u.errf("%s", g), err)
	}
	u.push(v)
	return nil
}

func (u *unpickler) build() error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	obj, err := u.top()
	if err != nil {
		return err
	}
	switch o := obj.(type) {
	case *Dict:
		s, ok := state.(*Dict)
		if !ok {
			return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("BUILD of %s with a %T", o.Class, state))
		}
		for i := range s.keys {
			o.Set(s.keys[i], s.vals[i])
		}
	case *Object:
		o.State = state
	case *TorchTensor:
		// Tensor state (requires_grad, hooks): nothing to keep.
	default:
		return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("BUILD of a %T", obj))
	}
	return nil
}

func (u *unpickler) stepMemo(op byte) error {
	switch op {
	case 'q', 'r', 'p', 0x94:
		v, err := u.top()
		if err != nil {
			return err
		}
		var idx int
		switch op {
		case 'q':
			b, err := u.next(1)
			if err != nil {
				return err
			}
			idx = int(b[0])
		case 'r':
			b, err := u.next(4)
			if err != nil {
				return err
			}
			idx = int(binary.LittleEndian.Uint32(b))
		case 'p':
			s, err := u.line()
			if err != nil {
				return err
			}
			if idx, err = strconv.Atoi(s); err != nil {
				return u.errf("PUT %q", s)
			}
		default:
			idx = len(u.memo)
		}
		u.memo[idx] = v
	case 'h', 'j', 'g':
		var idx int
		switch op {
		case 'h':
			b, err := u.next(1)
			if err != nil {
				return err
			}
			idx = int(b[0])
		case 'j':
			b, err := u.next(4)
			if err != nil {
				return err
			}
			idx = int(binary.LittleEndian.Uint32(b))
		default:
			s, err := u.line()
			if err != nil {
				return err
			}
			if idx, err = strconv.Atoi(s); err != nil {
				return u.errf("GET %q", s)
			}
		}
		v, ok := u.memo[idx]
		if !ok {
			return u.errf("memo %d not set", idx)
		}
		u.push(v)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupported, u.errf("opcode 0x%02x", op))
	}
	return nil
}

// reducers build the Go value of a call to a known class or function.
var reducers = map[string]func(Tuple) (any, error){
	"collections.OrderedDict": func(Tuple) (any, error) { return NewOrderedDict(), nil },
	"builtins.dict":           func(Tuple) (any, error) { return NewDict(), nil },
	"__builtin__.dict":        func(Tuple) (any, error) { return NewDict(), nil },
	"argparse.Namespace":      func(Tuple) (any, error) { return &Dict{Class: "argparse.Namespace"}, nil },
	"copy_reg._reconstructor": reconstructor,
	"copyreg._reconstructor":  reconstructor,
	"torch.Size": func(a Tuple) (any, error) {
		if len(a) != 1 {
			return nil, errors.New("torch.Size wants one argument")
		}
		return toTuple(a[0])
	},
	"builtins.set":       func(a Tuple) (any, error) { return setArg(a) },
	"builtins.frozenset": func(a Tuple) (any, error) { return setArg(a) },
	"_codecs.encode": func(a Tuple) (any, error) {
		if len(a) != 2 {
			return nil, errors.New("_codecs.encode wants two arguments")
		}
		s, ok1 := a[0].(string)
		if enc, ok2 := a[1].(string); !ok1 || !ok2 || enc != "latin1" {
			return nil, errors.New("_codecs.encode: only latin1 strings")
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, nil
	},
	"torch.torch_version.TorchVersion": func(a Tuple) (any, error) {
		if len(a) != 1 {
			return nil, errors.New("TorchVersion wants one argument")
		}
		return a[0], nil
	},
	"torch.device":                    func(a Tuple) (any, error) { return fmt.Sprint(a...), nil },
	"torch._utils._rebuild_tensor_v2": rebuildTensor,
	"torch._utils._rebuild_parameter": func(a Tuple) (any, error) {
		if len(a) < 1 {
			return nil, errors.New("_rebuild_parameter without data")
		}
		if _, ok := a[0].(*TorchTensor); !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %T", a[0])
		}
		return a[0], nil
	},
}

// reconstructor handles copyreg._reconstructor(cls, object, None), which
// protocol-0/1 pickles use for argparse.Namespace.
func reconstructor(a Tuple) (any, error) {
	if len(a) >= 1 {
		if g, ok := a[0].(Global); ok && g.String() == "argparse.Namespace" {
			return &Dict{Class: "argparse.Namespace"}, nil
		}
	}
	return nil, fmt.Errorf("%w: copyreg._reconstructor of %v", ErrUnsupported, a)
}

func setArg(a Tuple) (any, error) {
	if len(a) == 0 {
		return []any{}, nil
	}
	l, ok := a[0].([]any)
	if !ok {
		return nil, fmt.Errorf("set of a %T", a[0])
	}
	return l, nil
}

func toTuple(v any) (Tuple, error) {
	switch t := v.(type) {
	case Tuple:
		return t, nil
	case []any:
		return Tuple(t), nil
	}
	return nil, fmt.Errorf("want a tuple, have a %T", v)
}

func toInts(v any) ([]int, error) {
	t, err := toTuple(v)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32*int64(1<<16) {
			return nil, fmt.Errorf("dimension %v", x)
		}
		out[i] = int(n)
	}
	return out, nil
}
