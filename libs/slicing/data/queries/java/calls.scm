; Calls, for the API facet. @call is the call (it orders the calls); each @call.callee is a part
; of the callee's name, joined with "." in source order: `Runtime.getRuntime().exec` is the object
; `Runtime.getRuntime()` and the name `exec`.
(method_invocation
  object: _ @call.callee
  name: _ @call.callee) @call

(method_invocation
  !object
  name: _ @call.callee) @call

(object_creation_expression
  type: _ @call.callee) @call
