# Drift as a Markdown report.
esxnet drift manifests --target sim:lab --output markdown
