package djangodb

// TryWrite attempts a write through the source's connections.
func TryWrite(s *Source) error {
	_, err := s.db.Exec(`CREATE TABLE restreg_write_probe (x integer)`)
	return err
}
