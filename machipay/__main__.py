from machipay.cli import main

main()
