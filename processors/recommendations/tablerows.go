package recommendations

// EncodeUserRow is the row the user processor writes to the users table for
// r, in its current binary form: for tools and benchmarks that fill the
// table as the processor would (a row in another form is read too, at a
// cost, until the processor rewrites it).
func EncodeUserRow(r *UserRow) ([]byte, error) { return userRowCodec{}.Encode(r) }

// EncodeItemRow is the row the item processor writes to the items table for
// it, in its current binary form (see EncodeUserRow).
func EncodeItemRow(it *Item) ([]byte, error) { return itemCodec{}.Encode(it) }
