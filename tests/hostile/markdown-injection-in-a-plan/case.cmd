# Backticks, newlines and HTML in a name stay inside the Markdown plan's text: escaped.
esxnet plan adapter.yaml --target sim:lab --output markdown
