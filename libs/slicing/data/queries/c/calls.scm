; Calls, for the API facet. @call is the call (it orders the calls); each @call.callee is a part
; of the callee's name, joined with "." in source order (`p->ops->read` is one part here).
(call_expression
  function: _ @call.callee) @call
