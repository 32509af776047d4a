from wfapp import create_app

app = create_app()
