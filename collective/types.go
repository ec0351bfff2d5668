package collective

import (
	"fmt"
	"strings"
)

// DataType is an element type, numbered as HCCL's HcclDataType.
type DataType int32

// Data types, with HCCL's values.
const (
	Int8     DataType = 0
	Int16    DataType = 1
	Int32    DataType = 2
	Float16  DataType = 3
	Float32  DataType = 4
	Int64    DataType = 5
	Uint64   DataType = 6
	Uint8    DataType = 7
	Uint16   DataType = 8
	Uint32   DataType = 9
	Float64  DataType = 10
	BFloat16 DataType = 11
)

var dataTypeNames = [...]string{"int8", "int16", "int32", "fp16", "fp32", "int64", "uint64", "uint8", "uint16", "uint32", "fp64", "bf16"}
var dataTypeSizes = [...]int{1, 2, 4, 2, 4, 8, 8, 1, 2, 4, 8, 2}

// Valid reports whether d is one of the twelve supported types.
func (d DataType) Valid() bool { return d >= 0 && int(d) < len(dataTypeNames) }

// Size is the element size in bytes (0 for an invalid type).
func (d DataType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dataTypeSizes[d]
}

func (d DataType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DataType(%d)", int32(d))
	}
	return dataTypeNames[d]
}

// ParseDataType reads a name as nccl-tests and HCCL's tools write it
// (fp32, float32, float, bf16, int8, ...).
func ParseDataType(s string) (DataType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	alias := map[string]DataType{"float": Float32, "float32": Float32, "half": Float16, "float16": Float16,
		"bfloat16": BFloat16, "bfp16": BFloat16, "double": Float64, "float64": Float64, "int": Int32}
	if d, ok := alias[s]; ok {
		return d, nil
	}
	for i, n := range dataTypeNames {
		if n == s {
			return DataType(i), nil
		}
	}
	return 0, fmt.Errorf("collective: unknown data type %q (want one of %s)", s, strings.Join(dataTypeNames[:], ", "))
}

// ReduceOp is a reduction, numbered as HCCL's HcclReduceOp.
type ReduceOp int32

// Reduce operations, with HCCL's values.
const (
	Sum  ReduceOp = 0
	Prod ReduceOp = 1
	Max  ReduceOp = 2
	Min  ReduceOp = 3
)

var reduceOpNames = [...]string{"sum", "prod", "max", "min"}

// Valid reports whether o is one of the four supported operations.
func (o ReduceOp) Valid() bool { return o >= 0 && int(o) < len(reduceOpNames) }

func (o ReduceOp) String() string {
	if !o.Valid() {
		return fmt.Sprintf("ReduceOp(%d)", int32(o))
	}
	return reduceOpNames[o]
}

// ParseReduceOp reads sum, prod, max or min.
func ParseReduceOp(s string) (ReduceOp, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range reduceOpNames {
		if n == s {
			return ReduceOp(i), nil
		}
	}
	return 0, fmt.Errorf("collective: unknown reduce op %q (want sum, prod, max or min)", s)
}

// workType is the type reductions run in: 16-bit floats widen to float32 so
// that a sum is rounded once, at the end.
func (d DataType) workType() DataType {
	if d == Float16 || d == BFloat16 {
		return Float32
	}
	return d
}
