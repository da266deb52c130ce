"""What the dashboard shows, computed from run records and data without Streamlit, so tests call it directly: one
module per page topic (``compare``, ``verdict``, ``home``, ``dataset``, ``augmentation``), ``common`` for what several
share. Tables come back as pandas frames in long form, ready for Altair; ``charts`` holds the Altair encodings that
give each model its one colour."""
