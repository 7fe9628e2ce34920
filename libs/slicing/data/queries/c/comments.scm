; Line and block comments: prose for the text facet, and lines the dependence graph skips.
(comment) @comment
