# The in-sync Markdown report.
esxnet apply manifests --target sim:lab --auto-approve --prune
esxnet drift manifests --target sim:lab --output markdown
