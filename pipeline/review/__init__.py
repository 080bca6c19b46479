"""`finsent review`: the review loop's tools. `export` reads the review topic (the records that
`pipeline.core.review` picks in the scoring stage, and the disputed-alert records of the API) and
writes labelling tasks for Label Studio, Argilla or plain JSONL; `import` reads what a labelling
tool exports and writes a dataset that `finsent train` and `finsent distill` read.

Modules: `formats` (tasks out, human labels in: plain functions on dicts), `dataset` (the
training JSONL, merged by item id), `topic` (the review topic read up to its end offsets), `cli`.
"""
