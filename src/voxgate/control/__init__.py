"""The call control plane: relaying calls, and supervising every live call through its sideband."""
