fn main() {
    reqtest::Suite::new(["collections"]).with_standins().main()
}
