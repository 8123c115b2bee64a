"""MkDocs hook: serve the repository's examples/ folder with the site.

The gallery's pictures live once, in examples/ (the README shows them from there); the
pages link to them as examples/NAME, and this hook adds those files to the build instead of
a second copy under docs/ or a symlink (which a Windows checkout may not make).
"""

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
SHOWN = {".jpg", ".png", ".webp", ".mp4"}  # pictures and the clip; not examples/LICENSES.md


def on_files(files, config):
    for path in sorted((ROOT / "examples").iterdir()):
        if path.suffix in SHOWN:
            files.append(File(f"examples/{path.name}", src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files
