"""bench/RESULTS.md has one top-level part per component ("# gantry-runc",
"# containerd-shim-gantry-v2", "# gantryd"); each benchmark adds its newest run at the
end of its own part."""


def add_section(path, part, section):
    """Inserts `section` at the end of the part headed `# {part}` in the file at `path`
    (the part is created at the end of the file if it is missing)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if not text:
        text = "# Benchmark results\n"
    heading = f"# {part}\n"
    start = text.find("\n" + heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + heading
        start = text.find("\n" + heading)
    # The part ends where the next top-level part begins.
    cut = text.find("\n# ", start + 1)
    body = section.strip("\n") + "\n"
    if cut < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        text = text[:cut].rstrip("\n") + "\n\n" + body + text[cut:]
    with open(path, "w") as f:
        f.write(text)
