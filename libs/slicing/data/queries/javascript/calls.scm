; Calls, for the API facet. @call is the call (it orders the calls); @call.callee names the callee.
; `_` rather than `(_)`: a dynamic `import(…)` names its callee with a keyword.
(call_expression
  function: _ @call.callee) @call

(new_expression
  constructor: _ @call.callee) @call
