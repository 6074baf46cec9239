package cel

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file holds the subset of Kubernetes' CEL libraries
// (k8s.io/apiserver/pkg/cel/library) cairn implements: quantity, the list
// helpers isSorted/sum/min/max, and regex find/findAll. The url, ip, cidr,
// format, semver and authorizer libraries are not implemented.

// quantityType is the CEL type of a Kubernetes resource.Quantity, named as
// Kubernetes names it.
var quantityType = cel.ObjectType("kubernetes.Quantity")

// Quantity is a CEL value wrapping resource.Quantity.
type Quantity struct{ *resource.Quantity }

// ConvertToNative implements ref.Val.
func (q Quantity) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(q.Quantity).AssignableTo(typeDesc) {
		return q.Quantity, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return q.Quantity.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'Quantity' to '%v'", typeDesc)
}

// ConvertToType implements ref.Val.
func (q Quantity) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case quantityType:
		return q
	case types.TypeType:
		return quantityType
	case types.StringType:
		return types.String(q.Quantity.String())
	}
	return types.NewErr("type conversion error from '%s' to '%s'", quantityType, typeVal)
}

// Equal implements ref.Val.
func (q Quantity) Equal(other ref.Val) ref.Val {
	o, ok := other.(Quantity)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(q.Quantity.Equal(*o.Quantity))
}

// Type implements ref.Val.
func (q Quantity) Type() ref.Type { return quantityType }

// Value implements ref.Val.
func (q Quantity) Value() any { return q.Quantity }

func quantityLib() cel.EnvOption {
	qt := quantityType
	unaryQ := func(f func(*resource.Quantity) ref.Val) cel.OverloadOpt {
		return cel.UnaryBinding(func(v ref.Val) ref.Val {
			q, ok := v.(Quantity)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(q.Quantity)
		})
	}
	binaryQQ := func(f func(a, b *resource.Quantity) ref.Val) cel.OverloadOpt {
		return cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			a, ok := l.(Quantity)
			if !ok {
				return types.MaybeNoSuchOverloadErr(l)
			}
			b, ok := r.(Quantity)
			if !ok {
				return types.MaybeNoSuchOverloadErr(r)
			}
			return f(a.Quantity, b.Quantity)
		})
	}
	binaryQI := func(f func(a *resource.Quantity, b int64) ref.Val) cel.OverloadOpt {
		return cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			a, ok := l.(Quantity)
			if !ok {
				return types.MaybeNoSuchOverloadErr(l)
			}
			b, ok := r.(types.Int)
			if !ok {
				return types.MaybeNoSuchOverloadErr(r)
			}
			return f(a.Quantity, int64(b))
		})
	}
	return cel.Lib(&simpleLib{opts: []cel.EnvOption{
		cel.Types(qt),
		cel.Function("quantity",
			cel.Overload("string_to_quantity", []*cel.Type{cel.StringType}, qt,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					q, err := resource.ParseQuantity(string(s))
					if err != nil {
						return types.WrapErr(err)
					}
					return Quantity{&q}
				}))),
		cel.Function("isQuantity",
			cel.Overload("is_quantity_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(v)
					}
					_, err := resource.ParseQuantity(string(s))
					return types.Bool(err == nil)
				}))),
		cel.Function("sign",
			cel.MemberOverload("quantity_sign", []*cel.Type{qt}, cel.IntType,
				unaryQ(func(q *resource.Quantity) ref.Val { return types.Int(q.Sign()) }))),
		cel.Function("isInteger",
			cel.MemberOverload("quantity_is_integer", []*cel.Type{qt}, cel.BoolType,
				unaryQ(func(q *resource.Quantity) ref.Val {
					_, ok := q.AsInt64()
					return types.Bool(ok)
				}))),
		cel.Function("asInteger",
			cel.MemberOverload("quantity_get_integer", []*cel.Type{qt}, cel.IntType,
				unaryQ(func(q *resource.Quantity) ref.Val {
					v, ok := q.AsInt64()
					if !ok {
						return types.NewErr("cannot convert value to integer")
					}
					return types.Int(v)
				}))),
		cel.Function("asApproximateFloat",
			cel.MemberOverload("quantity_get_float", []*cel.Type{qt}, cel.DoubleType,
				unaryQ(func(q *resource.Quantity) ref.Val { return types.Double(q.AsApproximateFloat64()) }))),
		cel.Function("isGreaterThan",
			cel.MemberOverload("quantity_is_greater_than", []*cel.Type{qt, qt}, cel.BoolType,
				binaryQQ(func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) == 1) }))),
		cel.Function("isLessThan",
			cel.MemberOverload("quantity_is_less_than", []*cel.Type{qt, qt}, cel.BoolType,
				binaryQQ(func(a, b *resource.Quantity) ref.Val { return types.Bool(a.Cmp(*b) == -1) }))),
		cel.Function("compareTo",
			cel.MemberOverload("quantity_compare_to", []*cel.Type{qt, qt}, cel.IntType,
				binaryQQ(func(a, b *resource.Quantity) ref.Val { return types.Int(a.Cmp(*b)) }))),
		cel.Function("add",
			cel.MemberOverload("quantity_add", []*cel.Type{qt, qt}, qt,
				binaryQQ(func(a, b *resource.Quantity) ref.Val {
					c := a.DeepCopy()
					c.Add(*b)
					return Quantity{&c}
				})),
			cel.MemberOverload("quantity_add_int", []*cel.Type{qt, cel.IntType}, qt,
				binaryQI(func(a *resource.Quantity, b int64) ref.Val {
					c := a.DeepCopy()
					c.Add(*resource.NewQuantity(b, resource.DecimalExponent))
					return Quantity{&c}
				}))),
		cel.Function("sub",
			cel.MemberOverload("quantity_sub", []*cel.Type{qt, qt}, qt,
				binaryQQ(func(a, b *resource.Quantity) ref.Val {
					c := a.DeepCopy()
					c.Sub(*b)
					return Quantity{&c}
				})),
			cel.MemberOverload("quantity_sub_int", []*cel.Type{qt, cel.IntType}, qt,
				binaryQI(func(a *resource.Quantity, b int64) ref.Val {
					c := a.DeepCopy()
					c.Sub(*resource.NewQuantity(b, resource.DecimalExponent))
					return Quantity{&c}
				}))),
	}})
}

// listsLib is Kubernetes' list library minus indexOf/lastIndexOf:
// isSorted, sum, min, max.
func listsLib() cel.EnvOption {
	listT := cel.ListType(cel.TypeParamType("T"))
	lister := func(f func(traits.Lister) ref.Val) cel.OverloadOpt {
		return cel.UnaryBinding(func(v ref.Val) ref.Val {
			l, ok := v.(traits.Lister)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(l)
		})
	}
	extreme := func(want int64) func(traits.Lister) ref.Val {
		return func(l traits.Lister) ref.Val {
			n := l.Size().(types.Int)
			if n == 0 {
				return types.NewErr("%s called on empty list", map[int64]string{-1: "min", 1: "max"}[want])
			}
			best := l.Get(types.Int(0))
			for i := types.Int(1); i < n; i++ {
				v := l.Get(i)
				c, ok := v.(traits.Comparer)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				r, ok := c.Compare(best).(types.Int)
				if !ok {
					return types.NewErr("cannot compare %v and %v", v.Type(), best.Type())
				}
				if int64(r) == want {
					best = v
				}
			}
			return best
		}
	}
	return cel.Lib(&simpleLib{opts: []cel.EnvOption{
		cel.Function("isSorted",
			cel.MemberOverload("list_is_sorted", []*cel.Type{listT}, cel.BoolType,
				lister(func(l traits.Lister) ref.Val {
					n := l.Size().(types.Int)
					for i := types.Int(1); i < n; i++ {
						a, ok := l.Get(i - 1).(traits.Comparer)
						if !ok {
							return types.MaybeNoSuchOverloadErr(l.Get(i - 1))
						}
						r, ok := a.Compare(l.Get(i)).(types.Int)
						if !ok {
							return types.NewErr("list elements are not comparable")
						}
						if r > 0 {
							return types.False
						}
					}
					return types.True
				}))),
		cel.Function("sum",
			cel.MemberOverload("list_sum", []*cel.Type{listT}, cel.TypeParamType("T"),
				lister(func(l traits.Lister) ref.Val {
					n := l.Size().(types.Int)
					if n == 0 {
						return types.IntZero
					}
					acc := l.Get(types.Int(0))
					for i := types.Int(1); i < n; i++ {
						a, ok := acc.(traits.Adder)
						if !ok {
							return types.MaybeNoSuchOverloadErr(acc)
						}
						acc = a.Add(l.Get(i))
						if types.IsError(acc) {
							return acc
						}
					}
					return acc
				}))),
		cel.Function("min",
			cel.MemberOverload("list_min", []*cel.Type{listT}, cel.TypeParamType("T"), lister(extreme(-1)))),
		cel.Function("max",
			cel.MemberOverload("list_max", []*cel.Type{listT}, cel.TypeParamType("T"), lister(extreme(1)))),
	}})
}

// regexLib is Kubernetes' regex library: find and findAll.
func regexLib() cel.EnvOption {
	return cel.Lib(&simpleLib{opts: []cel.EnvOption{
		cel.Function("find",
			cel.MemberOverload("string_find_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(s, p ref.Val) ref.Val {
					re, err := compileRegex(p)
					if err != nil {
						return types.WrapErr(err)
					}
					str, ok := s.(types.String)
					if !ok {
						return types.MaybeNoSuchOverloadErr(s)
					}
					return types.String(re.FindString(string(str)))
				}))),
		cel.Function("findAll",
			cel.MemberOverload("string_find_all_string", []*cel.Type{cel.StringType, cel.StringType}, cel.ListType(cel.StringType),
				cel.BinaryBinding(func(s, p ref.Val) ref.Val {
					return findAll(s, p, types.Int(-1))
				})),
			cel.MemberOverload("string_find_all_string_int", []*cel.Type{cel.StringType, cel.StringType, cel.IntType}, cel.ListType(cel.StringType),
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return findAll(args[0], args[1], args[2])
				}))),
	}})
}

func findAll(s, p, limit ref.Val) ref.Val {
	re, err := compileRegex(p)
	if err != nil {
		return types.WrapErr(err)
	}
	str, ok := s.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(s)
	}
	n, ok := limit.(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(limit)
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return types.NewErr("limit out of range")
	}
	return types.DefaultTypeAdapter.NativeToValue(re.FindAllString(string(str), int(n)))
}

// regexCache holds compiled patterns; policies use few, so it stops
// growing at regexCacheMax (patterns built from request data are then
// compiled on every call).
var (
	regexCache    sync.Map // pattern → *regexp.Regexp
	regexCacheLen atomic.Int64
)

const regexCacheMax = 1024

func compileRegex(p ref.Val) (*regexp.Regexp, error) {
	s, ok := p.(types.String)
	if !ok {
		return nil, fmt.Errorf("no such overload")
	}
	if re, ok := regexCache.Load(string(s)); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(string(s))
	if err != nil {
		return nil, err
	}
	if regexCacheLen.Add(1) <= regexCacheMax {
		regexCache.Store(string(s), re)
	}
	return re, nil
}

type simpleLib struct{ opts []cel.EnvOption }

func (l *simpleLib) CompileOptions() []cel.EnvOption { return l.opts }
func (l *simpleLib) ProgramOptions() []cel.ProgramOption {
	return nil
}
