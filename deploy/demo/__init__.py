"""The demo: `bash deploy/demo/run.sh` (python -m deploy.demo.demo) drafts the sample incident of config/demo/."""
