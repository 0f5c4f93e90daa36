// Placeholder entry point; the CLI lands with the foundation issue.
int main() { return 0; }
