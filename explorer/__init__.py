"""The Explorer page's own modules: the model store and Hub probe, the upload component, download
files, the visitor's analysis, the event handlers, the plots and the app server used by tests and
benchmarks. Imports `explain`, `vit_hybrid` and Gradio; `app.py` lays the page out from them."""
