(comment) @comment

; A docstring is a string literal standing alone as a statement (anchored: its only named child).
(expression_statement
  .
  (string)
  .) @docstring
