throw new Error("cbor-extract is not installed (stub): cbor-x uses its JavaScript decoder")
