; inherits: c
; `new Foo(1)` constructs a type: the type is the callee.
(new_expression
  type: _ @call.callee) @call
