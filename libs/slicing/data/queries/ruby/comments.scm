; `# …` and `=begin … =end` alike.
(comment) @comment
